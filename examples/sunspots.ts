// Example 4 (and `npm run demo`): forecasting yearly sunspot numbers (1700-2008;
// examples/data/sunspots_yearly.csv) from a sliding window of the previous years with gru(32) +
// dense(1). Reports the test error of the one-year-ahead forecast against the naive "same as last
// year" forecast, saves the loss curves, and exits non-zero if the GRU does not beat the naive
// forecast or leaves tensors behind.
//   npm run example:sunspots      (EPOCHS=n to change the budget; VERBOSE=0|1|2 for progress)
import * as path from 'node:path';
import { backendInfo, callbacks, layers, memory, optimizers, outputDir, saveHistoryPlot, sequential, setSeed, sunspotWindows } from './common';

setSeed(3);
const WINDOW = 12;
const { n, split, X, Y, testErrors, naive } = sunspotWindows(WINDOW); // the last 20% of the years are the test set

async function main(): Promise<void> {
  const info = backendInfo();
  console.log(`cudnn-gru on ${info.device}: BLAS ${info.cpu.blas}, ${info.cpu.threads} threads; CUDA ${info.cuda.available ? info.cuda.deviceName : `not used: ${info.cuda.reason}`}`);
  const baseline = memory().numTensors;
  const model = sequential([layers.gru({ units: 32, inputShape: [WINDOW, 1] }), layers.dense({ units: 1 })]);
  model.compile({ optimizer: optimizers.adam({ learningRate: 3e-3, clipnorm: 1 }), loss: 'meanSquaredError', metrics: ['mae'] });
  model.summary();
  const epochs = Number(process.env.EPOCHS ?? 150);
  const started = Date.now();
  const history = await model.fit(X(0, split), Y(0, split), {
    epochs, batchSize: 16, validationSplit: 0.15, verbose: Number(process.env.VERBOSE ?? 2) as 0 | 1 | 2,
    callbacks: [callbacks.earlyStopping({ monitor: 'val_loss', patience: 30, restoreBestWeights: true })],
  });
  console.log(`trained in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const plot = path.join(outputDir, 'sunspots-loss.svg');
  saveHistoryPlot(history, plot, { title: 'sunspots: GRU(32) loss' });
  console.log(`loss curves: ${path.relative(process.cwd(), plot)}`);
  const pred = model.predict(X(split, n));
  const p = pred.dataSync();
  pred.dispose();
  const ours = testErrors(p);
  const last = testErrors(naive);
  const m = n - split;
  console.log(`test years ${1700 + WINDOW + split}-${1700 + WINDOW + n - 1} (${m} forecasts)`);
  console.log(`GRU:        MAE ${ours.mae.toFixed(2)}, RMSE ${ours.rmse.toFixed(2)}`);
  console.log(`last value: MAE ${last.mae.toFixed(2)}, RMSE ${last.rmse.toFixed(2)}`);
  console.log(`the GRU's error is ${((ours.mae / last.mae) * 100).toFixed(0)}% of the naive forecast's (MAE)`);
  model.dispose();
  const leaked = memory().numTensors - baseline;
  console.log(`tensors left after dispose: ${leaked}`);
  if (leaked !== 0 || !(ours.mae < last.mae)) process.exitCode = 1;
}
void main();
