// Example 2: stacked sequence labelling. gru(256, returnSequences) → gru(128, returnSequences) →
// timeDistributed(dense(1, sigmoid)) over 100-feature sequences of variable length (right-padded
// with zeros; a masking layer hands each sample's length to the GRUs). The label at step t is
// whether the running sum of feature 0 up to t is positive, so the model has to remember.
// Reports the per-step accuracy on valid (unpadded) steps of held-out sequences.
//   npm run example:labelling
import { layers, optimizers, random as rng, sequential, setSeed } from './common';

setSeed(11);
const F = 100, T = 24, N = Number(process.env.SAMPLES ?? 768);
function make(n: number) {
  const x = new Float32Array(n * T * F);
  const y = new Float32Array(n * T);
  const lengths = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const len = 8 + Math.floor(rng() * (T - 7));
    lengths[i] = len;
    let sum = 0;
    for (let t = 0; t < len; t++) {
      for (let f = 0; f < F; f++) x[(i * T + t) * F + f] = (rng() * 2 - 1) * (f === 0 ? 1 : 0.5);
      sum += x[(i * T + t) * F]!;
      y[i * T + t] = sum > 0 ? 1 : 0;
    }
  }
  return { x: { data: x, shape: [n, T, F] }, y: { data: y, shape: [n, T, 1] }, lengths };
}

async function main(): Promise<void> {
  const train = make(N);
  const test = make(256);
  const model = sequential([
    layers.masking({ inputShape: [T, F] }),
    layers.gru({ units: 256, returnSequences: true }),
    layers.gru({ units: 128, returnSequences: true }),
    layers.timeDistributed({ layer: layers.dense({ units: 1, activation: 'sigmoid' }) }),
  ]);
  model.summary();
  model.compile({ optimizer: optimizers.adam({ learningRate: 2e-3 }), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  const epochs = Number(process.env.EPOCHS ?? 8);
  const t0 = Date.now();
  await model.fit(train.x, train.y, { epochs, batchSize: 32, validationSplit: 0.1, verbose: process.stdout.isTTY ? 1 : 2 });
  const pred = model.predict(test.x);
  const p = pred.dataSync();
  pred.dispose();
  let hits = 0, total = 0, majority = 0;
  for (let i = 0; i < 256; i++) {
    for (let t = 0; t < test.lengths[i]!; t++) {
      hits += (p[i * T + t]! > 0.5 ? 1 : 0) === test.y.data[i * T + t] ? 1 : 0;
      majority += test.y.data[i * T + t]!;
      total++;
    }
  }
  console.log(`trained ${epochs} epochs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`held-out per-step accuracy on valid steps: ${((hits / total) * 100).toFixed(1)}% (always predicting the majority class: ${((Math.max(majority, total - majority) / total) * 100).toFixed(1)}%)`);
  model.dispose();
}
void main();
