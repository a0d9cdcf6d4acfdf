// Example 3: regression on the diabetes data set (442 patients, 10 features; examples/data/diabetes.csv).
// Features as a length-1 sequence, gru(32) + dense(1), MSE, Adam 1e-3. Saves the loss curve as an
// SVG, prints a prediction for one test patient and the test MSE against predicting the mean.
//   npm run example:diabetes
import * as fs from 'node:fs';
import * as path from 'node:path';
import { layers, optimizers, outputDir, readCsv, saveHistoryPlot, sequential, setSeed } from './common';

setSeed(7);
const { rows } = readCsv('diabetes.csv');
// Shuffle deterministically, 80/20 split.
const order = rows.map((_, i) => i).sort((a, b) => ((a * 7919) % 443) - ((b * 7919) % 443));
const data = order.map((i) => rows[i]!);
const split = Math.floor(data.length * 0.8);
const train = data.slice(0, split), test = data.slice(split);
const F = 10;
// Standardise features and target on the training set.
const mean = Array.from({ length: F + 1 }, (_, j) => train.reduce((s, r) => s + r[j]!, 0) / train.length);
const std = Array.from({ length: F + 1 }, (_, j) => Math.sqrt(train.reduce((s, r) => s + (r[j]! - mean[j]!) ** 2, 0) / train.length));
const xOf = (set: number[][]) => ({ data: Float32Array.from(set.flatMap((r) => r.slice(0, F).map((v, j) => (v - mean[j]!) / std[j]!))), shape: [set.length, 1, F] });
const yOf = (set: number[][]) => ({ data: Float32Array.from(set.map((r) => (r[F]! - mean[F]!) / std[F]!)), shape: [set.length, 1] });

async function main(): Promise<void> {
  const model = sequential([layers.gru({ units: 32, inputShape: [1, F] }), layers.dense({ units: 1 })]);
  model.compile({ optimizer: optimizers.adam({ learningRate: 1e-3 }), loss: 'meanSquaredError', metrics: ['mae'] });
  const epochs = Number(process.env.EPOCHS ?? 200);
  const history = await model.fit(xOf(train), yOf(train), { epochs, batchSize: 32, validationSplit: 0.15, verbose: 0 });
  fs.mkdirSync(outputDir, { recursive: true });
  const plot = path.join(outputDir, 'diabetes_loss.svg');
  saveHistoryPlot(history, plot, { keys: ['loss', 'val_loss'], title: 'diabetes: MSE (standardised target)' });
  const pred = model.predict(xOf(test));
  const p = pred.dataSync();
  pred.dispose();
  const unscale = (v: number) => v * std[F]! + mean[F]!;
  const mse = test.reduce((s, r, i) => s + (unscale(p[i]!) - r[F]!) ** 2, 0) / test.length;
  const mseMean = test.reduce((s, r) => s + (mean[F]! - r[F]!) ** 2, 0) / test.length;
  console.log(`loss curve: ${path.relative(process.cwd(), plot)}`);
  console.log(`patient 0 of the test set: predicted ${unscale(p[0]!).toFixed(1)}, actual ${test[0]![F]}`);
  console.log(`test MSE ${mse.toFixed(1)} vs ${mseMean.toFixed(1)} for predicting the training mean (R² = ${(1 - mse / mseMean).toFixed(3)})`);
  model.dispose();
}
void main();
