// Example: a GRU encoder-decoder (seq2seq) that learns to reverse short digit sequences. The
// encoder's final state starts the decoder; training uses teacher forcing (the decoder reads the
// true previous digit), and decoding runs step by step, feeding back its own predictions through
// a one-step model that shares the trained layers. Prints the test sequence accuracy (every digit
// right) against honest baselines: the most frequent digit per position, and copying the input.
//   npm run example:seq2seq      (EPOCHS=3 for a quick run)
import { input, layers, model, optimizers, setSeed, type Model, type SymbolicTensor, type Tensor } from './common';
import { random } from './common';

export const DIGITS = 10;
/** The decoder's first input: a token that is no digit. */
export const START = DIGITS;

/** n random digit sequences of `length` and their reversals, flat [n, length]. */
export function reverseTask(n: number, length: number, rng: () => number = random): { source: Int32Array; target: Int32Array } {
  const source = Int32Array.from({ length: n * length }, () => Math.floor(rng() * DIGITS));
  const target = new Int32Array(n * length);
  for (let i = 0; i < n; i++) for (let t = 0; t < length; t++) target[i * length + t] = source[i * length + length - 1 - t]!;
  return { source, target };
}

/** Teacher forcing: the decoder reads START, then the true target shifted by one. */
export function decoderInputs(target: Int32Array, length: number): Int32Array {
  const out = new Int32Array(target.length);
  for (let i = 0; i < target.length; i += length) {
    out[i] = START;
    out.set(target.subarray(i, i + length - 1), i + 1);
  }
  return out;
}

export interface Seq2seq {
  /** [source, previous target digits] → digit probabilities per step (teacher forcing). */
  train: Model;
  /** source → the encoder's final state. */
  encoder: Model;
  /** [previous digit, state] → [probabilities of the next digit, the new state]. */
  step: Model;
}

export function buildSeq2seq(length: number, units: number, embed = 16): Seq2seq {
  const source = input({ shape: [length], name: 'source' });
  const [, state] = layers.gru({ units, returnState: true }).apply(layers.embedding({ inputDim: DIGITS, outputDim: embed }).apply(source)) as SymbolicTensor[];
  // The decoder layers are applied twice: in the training graph over the whole target, and in
  // the one-step graph (variable length [null] makes both shapes fit); they share their weights.
  const decoderEmbedding = layers.embedding({ inputDim: DIGITS + 1, outputDim: embed });
  const decoderGru = layers.gru({ units, returnSequences: true, returnState: true });
  const readout = layers.dense({ units: DIGITS, activation: 'softmax' });
  const previous = input({ shape: [null], name: 'previous' });
  const [sequence] = decoderGru.apply([decoderEmbedding.apply(previous) as SymbolicTensor, state!]) as SymbolicTensor[];
  const train = model({ inputs: [source, previous], outputs: readout.apply(sequence!), name: 'seq2seq' });
  const encoder = model({ inputs: source, outputs: state!, name: 'encoder' });
  const digit = input({ shape: [1], name: 'digit' });
  const stateIn = input({ shape: [units], name: 'state' });
  const [stepOut, stepState] = decoderGru.apply([decoderEmbedding.apply(digit) as SymbolicTensor, stateIn]) as SymbolicTensor[];
  const step = model({ inputs: [digit, stateIn], outputs: [readout.apply(stepOut!) as SymbolicTensor, stepState!], name: 'decoder_step' });
  return { train, encoder, step };
}

/** Greedy step-by-step decoding: each predicted digit is the next step's input. */
export function decode(net: Seq2seq, source: Int32Array, length: number): Int32Array {
  const n = source.length / length;
  const out = new Int32Array(n * length);
  let state = net.encoder.predict({ data: source, shape: [n, length] }) as Tensor;
  let digits = new Int32Array(n).fill(START);
  for (let t = 0; t < length; t++) {
    const [probs, next] = net.step.predict([{ data: digits, shape: [n, 1] }, state]) as Tensor[];
    state.dispose();
    state = next!;
    const p = probs!.dataSync();
    probs!.dispose();
    digits = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let d = 1; d < DIGITS; d++) if (p[i * DIGITS + d]! > p[i * DIGITS + best]!) best = d;
      digits[i] = best;
      out[i * length + t] = best;
    }
  }
  state.dispose();
  return out;
}

/** The share of sequences with every digit right. */
export function sequenceAccuracy(predicted: Int32Array, target: Int32Array, length: number): number {
  let right = 0;
  for (let i = 0; i < target.length; i += length) if (target.subarray(i, i + length).every((d, t) => predicted[i + t] === d)) right++;
  return right / (target.length / length);
}

/** The most frequent training digit at each position, for every test sequence. */
export function majorityBaseline(trainTarget: Int32Array, n: number, length: number): Int32Array {
  const best = Array.from({ length }, (_, t) => {
    const counts = new Array(DIGITS).fill(0);
    for (let i = t; i < trainTarget.length; i += length) counts[trainTarget[i]!]++;
    return counts.indexOf(Math.max(...counts));
  });
  return Int32Array.from({ length: n * length }, (_, i) => best[i % length]!);
}

async function main(): Promise<void> {
  setSeed(7);
  const length = 5, units = 96;
  const trainSet = reverseTask(8000, length);
  const testSet = reverseTask(1000, length);
  const net = buildSeq2seq(length, units);
  net.train.summary();
  net.train.compile({ optimizer: optimizers.adam({ learningRate: 5e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const epochs = Number(process.env.EPOCHS ?? 12);
  const t0 = Date.now();
  const n = trainSet.source.length / length;
  await net.train.fit(
    [{ data: trainSet.source, shape: [n, length] }, { data: decoderInputs(trainSet.target, length), shape: [n, length] }],
    { data: trainSet.target, shape: [n, length] },
    { epochs, batchSize: 64, verbose: process.stdout.isTTY ? 1 : 2 },
  );
  console.log(`trained ${epochs} epochs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const nTest = testSet.source.length / length;
  const decoded = decode(net, testSet.source, length);
  const model = sequenceAccuracy(decoded, testSet.target, length);
  const majority = sequenceAccuracy(majorityBaseline(trainSet.target, nTest, length), testSet.target, length);
  const copy = sequenceAccuracy(testSet.source, testSet.target, length);
  console.log(`test sequence accuracy (all ${length} digits right, decoded step by step): ${(model * 100).toFixed(1)}%`);
  console.log(`baselines: most frequent digit per position ${(majority * 100).toFixed(1)}%, copying the input ${(copy * 100).toFixed(1)}%, chance ${(100 / DIGITS ** length).toFixed(3)}%`);
  if (model <= Math.max(majority, copy)) throw new Error('the model does not beat the baselines');
  net.train.dispose();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
