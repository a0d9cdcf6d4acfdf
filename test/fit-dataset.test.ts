// fitDataset / evaluateDataset: training from a batch source (generator, async iterable, tfjs-style
// iterator(), or a function per epoch). Checked against fit/evaluate on the same batches (which
// have their own float64-referenced tests): equal weights bitwise, equal logs, tensors the
// dataset yields freed after their step, exact tensor counts after.
import assert from 'node:assert/strict';
import { layers, memory, optimizers, sequential, setSeed, tensor, type Sequential, type Tensor } from '../lib';
import { rand } from './io-helpers/reference';
import { disposeModelsAfterEach } from './support/models';

const N = 12, T = 4, F = 2, B = 4;
const x = rand(N * T * F, 5, 1);
const y = rand(N, 9, 1);

function build(made: Sequential[]): Sequential {
  setSeed(3);
  const m = sequential([layers.gru({ units: 5, inputShape: [T, F] }), layers.dense({ units: 1 })]);
  m.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'mse' });
  made.push(m);
  return m;
}

/** The batches fit(shuffle: false, batchSize: B) makes, as host arrays or fresh tensors. */
function* batches(asTensors = false, weights?: Float32Array): Generator<{ xs: unknown; ys: unknown; sampleWeight?: Float32Array }> {
  for (let s = 0; s < N; s += B) {
    const xs = { data: x.slice(s * T * F, (s + B) * T * F), shape: [B, T, F] };
    const ys = { data: y.slice(s, s + B), shape: [B, 1] };
    const sampleWeight = weights?.slice(s, s + B);
    yield asTensors ? { xs: tensor(xs.data, xs.shape), ys: tensor(ys.data, ys.shape), ...(sampleWeight ? { sampleWeight } : {}) } : { xs, ys, ...(sampleWeight ? { sampleWeight } : {}) };
  }
}

describe('fitDataset and evaluateDataset', () => {
  const made = disposeModelsAfterEach();

  it('equals fit on the same batches (weights bitwise, history); yielded tensors are freed after their step', async () => {
    const a = build(made), b = build(made);
    const sw = Float32Array.from({ length: N }, (_, i) => 0.5 + (i % 3));
    const ha = await a.fit({ data: x, shape: [N, T, F] }, { data: y, shape: [N, 1] }, { epochs: 3, batchSize: B, shuffle: false, verbose: 0, sampleWeight: sw });
    const before = memory().numTensors;
    const hb = await b.fitDataset(() => batches(true, sw), { epochs: 3, verbose: 0 });
    assert.equal(memory().numTensors, before, 'the dataset tensors are disposed by fitDataset');
    assert.deepEqual(hb.epoch, ha.epoch);
    assert.deepEqual(hb.history.loss, ha.history.loss);
    a.getWeights().forEach((w, i) => assert.deepEqual(b.getWeights()[i], w));
    assert.equal(hb.params!.steps, N / B, 'a dataset of unknown length: steps counted in the first epoch');
  });

  it('accepts an iterable (iterated afresh each epoch), an async iterable and a tfjs-style iterator()', async () => {
    const ref = build(made);
    await ref.fit({ data: x, shape: [N, T, F] }, { data: y, shape: [N, 1] }, { epochs: 2, batchSize: B, shuffle: false, verbose: 0 });
    const sources = [
      { [Symbol.iterator]: () => batches() },
      { async *[Symbol.asyncIterator]() { yield* batches(); } },
      { iterator: async () => batches() },
    ];
    for (const source of sources) {
      const m = build(made);
      await m.fitDataset(source as never, { epochs: 2, verbose: 0 });
      ref.getWeights().forEach((w, i) => assert.deepEqual(m.getWeights()[i], w));
    }
  });

  it('batchesPerEpoch continues one iterator across epochs and re-opens it when it runs out', async () => {
    const opened: number[] = [];
    let pulled = 0;
    const source = () => {
      opened.push(pulled);
      return (function* () {
        for (const b of batches()) {
          pulled++;
          yield b;
        }
      })();
    };
    const m = build(made);
    const h = await m.fitDataset(source, { epochs: 4, batchesPerEpoch: 2, verbose: 0 });
    assert.equal(pulled, 8);
    assert.deepEqual(opened, [0, 3, 6], 'a 3-batch source opened three times for 8 batches');
    assert.equal(h.params!.steps, 2);
    assert.equal(h.epoch.length, 4);
  });

  it('evaluateDataset equals evaluate; validationData may be a dataset', async () => {
    const m = build(made);
    const whole = m.evaluate({ data: x, shape: [N, T, F] }, { data: y, shape: [N, 1] }, { batchSize: B });
    const before = memory().numTensors;
    const logs = await m.evaluateDataset(() => batches(true));
    assert.equal(memory().numTensors, before);
    assert.ok(Math.abs(logs.loss! - whole.loss!) < 1e-6, `${logs.loss} vs ${whole.loss}`);
    const first = await m.evaluateDataset(() => batches(), { batches: 1 });
    const one = m.evaluate({ data: x.slice(0, B * T * F), shape: [B, T, F] }, { data: y.slice(0, B), shape: [B, 1] });
    assert.ok(Math.abs(first.loss! - one.loss!) < 1e-6);
    const h = await m.fitDataset(() => batches(), { epochs: 1, verbose: 0, validationData: () => batches() });
    assert.equal(h.history.val_loss!.length, 1);
    assert.ok(Number.isFinite(h.history.val_loss![0]!));
  });

  it('abort and stopTraining end the epoch and close the dataset iterator; nothing leaks', async () => {
    const m = build(made);
    const controller = new AbortController();
    let closed = 0;
    const source = () => {
      const it = batches(true);
      return {
        next: () => it.next(),
        return: () => {
          closed++;
          // what a prefetching dataset holds is its own to free; here: the rest of the generator
          for (const rest of it) (rest as { xs: Tensor; ys: Tensor }).xs.dispose(), (rest as { xs: Tensor; ys: Tensor }).ys.dispose();
          return { done: true as const, value: undefined };
        },
      };
    };
    const before = memory().numTensors;
    const h = await m.fitDataset(source, { epochs: 5, verbose: 0, signal: controller.signal, callbacks: [{ onBatchEnd: (b: number) => (b === 0 ? controller.abort() : undefined) }] });
    assert.equal(h.stopped, true);
    assert.equal(closed, 1);
    assert.equal(memory().numTensors, before);
  });

  it('bad sources, elements and options are errors naming the function and the argument', async () => {
    const m = build(made);
    await assert.rejects(m.fitDataset(42 as never), /fitDataset: argument 'dataset' must be an iterable/);
    await assert.rejects(m.fitDataset([{ xs: [[1]] }] as never, { verbose: 0 }), /fitDataset: dataset element 0 must be \{xs, ys, sampleWeight\?\}/);
    await assert.rejects(m.fitDataset([{ xs: { data: x.slice(0, T * F), shape: [1, T, F] }, ys: [[1], [2]] }] as never, { verbose: 0 }), /fitDataset: x and dataset element 0 ys have different sample counts/);
    await assert.rejects(m.fitDataset([], { batchesPerEpoch: 1, verbose: 0 }), /fitDataset: the dataset is empty/);
    await assert.rejects(m.fitDataset([], { stepsPerEpoch: 3 } as never), /fitDataset: .*'stepsPerEpoch'.*batchesPerEpoch/);
    await assert.rejects(m.fitDataset([], { batchesPerEpoch: 0 }), /fitDataset: 'batchesPerEpoch' must be a positive integer, got number 0/);
    await assert.rejects(m.evaluateDataset([]), /evaluateDataset: the dataset gave no batch/);
    await assert.rejects(m.evaluateDataset(() => batches(), { steps: 2 } as never), /evaluateDataset: .*'steps'/);
    // a failing element's tensors are freed too
    const before = memory().numTensors;
    await assert.rejects(m.fitDataset([{ xs: tensor([1, 2], [1, 2]), ys: tensor([1], [1, 1]) }], { verbose: 0 }), /must have shape/);
    assert.equal(memory().numTensors, before);
  });
});
