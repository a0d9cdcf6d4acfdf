// Example 1: binary classification on synthetic data like scikit-learn's make_classification
// (1000 samples, 20 features fed as a 20-step sequence), gru(20) + dense(2, softmax), Adam,
// categorical cross-entropy, 100 epochs, batch 32, validation data. Prints the test accuracy.
//   npm run example:classify      (EPOCHS=10 for a quick run)
import { layers, optimizers, random as rng, sequential, setSeed } from './common';

setSeed(42);
const N = 1000, F = 20, INFORMATIVE = 5, REDUNDANT = 5;
// make_classification: per class 2 Gaussian clusters at hypercube vertices in the informative
// subspace, redundant features as linear combinations, the rest noise, 1% labels flipped.
const centers = Array.from({ length: 4 }, () => Array.from({ length: INFORMATIVE }, () => (rng() < 0.5 ? -1 : 1)));
const mix = Array.from({ length: REDUNDANT }, () => Array.from({ length: INFORMATIVE }, () => rng() * 2 - 1));
const normal = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
const featureOrder = Array.from({ length: F }, (_, i) => i).sort(() => rng() - 0.5);
const x = new Float32Array(N * F);
const y = new Float32Array(N * 2);
for (let i = 0; i < N; i++) {
  const cls = i % 2;
  const c = centers[cls * 2 + (rng() < 0.5 ? 0 : 1)]!;
  const inf = c.map((v) => v + normal());
  const red = mix.map((w) => w.reduce((s, wi, j) => s + wi * inf[j]!, 0));
  const row = [...inf, ...red, ...Array.from({ length: F - INFORMATIVE - REDUNDANT }, normal)];
  featureOrder.forEach((src, dst) => (x[i * F + dst] = row[src]!));
  y[i * 2 + (rng() < 0.01 ? 1 - cls : cls)] = 1;
}
const split = 800;
const xs = (a: number, b: number) => ({ data: x.slice(a * F, b * F), shape: [b - a, F, 1] });
const ys = (a: number, b: number) => ({ data: y.slice(a * 2, b * 2), shape: [b - a, 2] });

async function main(): Promise<void> {
  const model = sequential([layers.gru({ units: 20, inputShape: [F, 1] }), layers.dense({ units: 2, activation: 'softmax' })]);
  model.summary();
  model.compile({ optimizer: optimizers.adam({ learningRate: 1e-3 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const epochs = Number(process.env.EPOCHS ?? 100);
  const t0 = Date.now();
  await model.fit(xs(0, split), ys(0, split), { epochs, batchSize: 32, validationData: [xs(split, N), ys(split, N)], verbose: process.stdout.isTTY ? 1 : 0 });
  const test = model.evaluate(xs(split, N), ys(split, N));
  console.log(`trained ${epochs} epochs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`test accuracy: ${(test.accuracy! * 100).toFixed(1)}% (loss ${test.loss!.toFixed(4)})`);
  model.dispose();
}
void main();
