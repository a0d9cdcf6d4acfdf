// GRU against LSTM on the same task: forecasting yearly sunspot numbers (1700-2008;
// examples/data/sunspots_yearly.csv) one year ahead from the previous 12 years. Both networks have
// the same width (32 units, then dense(1)), the same data, optimizer, budget and early stopping,
// and are trained from three seeds each (interleaved, after an untimed warm-up, so that neither
// gets a warmer machine); the table shows the trainable parameter counts, the training time
// and the test error of each (mean, and the range over the seeds) beside the naive "same as last
// year" forecast. Exits non-zero if either network does not beat the naive forecast or tensors
// are left behind.
//   npm run example:gru-vs-lstm   (EPOCHS=n to change the budget, SEEDS=n the number of runs)
import { backendInfo, callbacks, layers, memory, optimizers, sequential, setSeed, sunspotWindows, type Sequential } from './common';

const WINDOW = 12, UNITS = 32;
const { n, split, X, Y, testErrors, naive: naiveForecast } = sunspotWindows(WINDOW); // the last 20% of the years are the test set

const CELLS: Record<string, () => Sequential> = {
  GRU: () => sequential([layers.gru({ units: UNITS, inputShape: [WINDOW, 1] }), layers.dense({ units: 1 })]),
  LSTM: () => sequential([layers.lstm({ units: UNITS, inputShape: [WINDOW, 1] }), layers.dense({ units: 1 })]),
};

interface Run { params: number; epochs: number; seconds: number; mae: number; rmse: number }

async function train(make: () => Sequential, seed: number, epochs: number): Promise<Run> {
  setSeed(seed);
  const model = make();
  try {
    model.compile({ optimizer: optimizers.adam({ learningRate: 3e-3, clipnorm: 1 }), loss: 'meanSquaredError' });
    const started = process.hrtime.bigint();
    const history = await model.fit(X(0, split), Y(0, split), {
      epochs, batchSize: 16, validationSplit: 0.15, verbose: 0,
      callbacks: [callbacks.earlyStopping({ monitor: 'val_loss', patience: 30, restoreBestWeights: true })],
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const pred = model.predict(X(split, n));
    const e = testErrors(pred.dataSync());
    pred.dispose();
    return { params: model.params.filter((p) => p.trainable).reduce((s, p) => s + p.value.size, 0), epochs: history.history.loss!.length, seconds, ...e };
  } finally {
    model.dispose();
  }
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const spread = (v: number[], digits: number) => `${mean(v).toFixed(digits)} (${Math.min(...v).toFixed(digits)}-${Math.max(...v).toFixed(digits)})`;

async function main(): Promise<void> {
  const info = backendInfo();
  console.log(`cudnn-gru on ${info.device}: BLAS ${info.cpu.blas}, ${info.cpu.threads} threads; CUDA ${info.cuda.available ? info.cuda.deviceName : `not used: ${info.cuda.reason}`}`);
  const baseline = memory().numTensors;
  const epochs = Number(process.env.EPOCHS ?? 150);
  const seeds = Array.from({ length: Number(process.env.SEEDS ?? 3) }, (_, i) => i + 1);
  console.log(`sunspots, one year ahead from ${WINDOW} years: ${split} training windows (15% of them for validation), test years ${1700 + WINDOW + split}-${1700 + WINDOW + n - 1}`);
  console.log(`each network: ${UNITS} units → dense(1), adam(3e-3), batch 16, up to ${epochs} epochs with early stopping (patience 30); seeds ${seeds.join(', ')}\n`);
  const rows: [string, string, string, string, string, string, string][] = [['model', 'params', 'epochs', 'train s', 'ms/epoch', 'test MAE', 'test RMSE']];
  for (const make of Object.values(CELLS)) await train(make, 0, 2); // warm-up (JIT, thread pool, allocator)
  const results: Record<string, Run[]> = Object.fromEntries(Object.keys(CELLS).map((name) => [name, []]));
  for (const seed of seeds) for (const [name, make] of Object.entries(CELLS)) results[name]!.push(await train(make, seed, epochs));
  for (const [name, runs] of Object.entries(results)) {
    rows.push([
      name, String(runs[0]!.params), spread(runs.map((r) => r.epochs), 0), spread(runs.map((r) => r.seconds), 1),
      spread(runs.map((r) => (1000 * r.seconds) / r.epochs), 1), spread(runs.map((r) => r.mae), 2), spread(runs.map((r) => r.rmse), 2),
    ]);
  }
  const naive = testErrors(naiveForecast);
  rows.push(['last value', '0', '-', '-', '-', naive.mae.toFixed(2), naive.rmse.toFixed(2)]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  const [gru, lstm] = [mean(results.GRU!.map((r) => r.mae)), mean(results.LSTM!.map((r) => r.mae))];
  console.log(`\nmean test MAE: GRU ${((gru / naive.mae) * 100).toFixed(0)}%, LSTM ${((lstm / naive.mae) * 100).toFixed(0)}% of the naive forecast's; the LSTM has ${(results.LSTM![0]!.params / results.GRU![0]!.params).toFixed(2)}× the GRU's parameters (4 gate blocks against 3)`);
  const leaked = memory().numTensors - baseline;
  console.log(`tensors left after dispose: ${leaked}`);
  if (leaked !== 0 || !(gru < naive.mae && lstm < naive.mae)) process.exitCode = 1;
}
void main();
