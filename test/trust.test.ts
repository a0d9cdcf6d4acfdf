// Regression tests for the model-layer bugs of issue #11 §3 and #12: csvLogger append on a new
// file, disposed models and layers, the plot's epoch axis after a resume, `this.model` in plain
// callbacks, and concurrent seeded fits equal to the same fits run alone.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { callbacks, historyToSvg, layers, memory, optimizers, saveHistoryPlot, sequential, setSeed, tensor, type Sequential } from '../lib';
import { rand } from './io-helpers/reference';
import { tempDir } from './support/temp-dir';

const x = { data: rand(24 * 5 * 3, 1, 1), shape: [24, 5, 3] };
const y = { data: rand(24, 2, 1), shape: [24, 1] };

/** A GRU model with every source of training randomness: shuffling, GRU dropout, a dropout layer. */
function noisyModel(seed: number): Sequential {
  setSeed(seed);
  const m = sequential([
    layers.gru({ units: 6, numLayers: 2, dropout: 0.3, returnSequences: true, inputShape: [5, 3] }),
    layers.dropout({ rate: 0.4 }),
    layers.gru({ units: 4 }),
    layers.dense({ units: 1 }),
  ]);
  m.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'mse' });
  return m;
}

describe('model-layer regressions (#11 §3, #12)', function () {
  this.timeout(60000);
  let baseline = 0;
  beforeEach(() => {
    baseline = memory().numTensors;
  });
  afterEach(() => assert.equal(memory().numTensors, baseline, 'tensors leaked'));

  it('csvLogger({append: true}) creates a missing file (header once), and continues it on the next fit', async () => {
    const file = path.join(tempDir(), 'log.csv');
    const m = noisyModel(1);
    await m.fit(x, y, { epochs: 2, verbose: 0, callbacks: [callbacks.csvLogger(file, { append: true })] });
    await m.fit(x, y, { epochs: 4, initialEpoch: 2, verbose: 0, callbacks: [callbacks.csvLogger(file, { append: true })] });
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(',')[0]), ['epoch', '0', '1', '2', '3']);
    assert.ok(lines.slice(1).every((l) => Number.isFinite(Number(l.split(',')[1]))), lines.join('\n'));
    m.dispose();
  });

  it('a disposed model throws on every use instead of re-initialising; so do its layers', async () => {
    const m = noisyModel(2);
    m.predict(x).dispose();
    const gru = m.layers[0]!;
    const before = memory().numTensors;
    m.dispose();
    assert.ok(memory().numTensors < before, 'dispose freed the parameters');
    const afterDispose = memory().numTensors;
    const uses: Array<[string, () => unknown]> = [
      ['predict', () => m.predict(x)],
      ['evaluate', () => m.evaluate(x, y)],
      ['trainOnBatch', () => m.trainOnBatch(x, y)],
      ['computeGradients', () => m.computeGradients(x, y)],
      ['summary', () => m.summary(() => {})],
      ['getWeights', () => m.getWeights()],
      ['setWeights', () => m.setWeights([])],
      ['compile', () => m.compile({ optimizer: 'sgd', loss: 'mse' })],
      ['countParams', () => m.countParams()],
      ['outputShape', () => m.outputShape],
      ['resetStates', () => m.resetStates()],
      ['add', () => m.add(layers.dense({ units: 1 }))],
      ['save', () => m.save(path.join(tempDir(), 'm'))],
      ['exportOnnx', () => m.exportOnnx(path.join(tempDir(), 'm.onnx'))],
      ['loadWeights', () => m.loadWeights(path.join(tempDir(), 'w.safetensors'))],
    ];
    for (const [method, use] of uses) {
      assert.throws(use, new RegExp(`^Error: model: this model was disposed \\(${method} called after dispose\\(\\)\\)`), method);
    }
    await assert.rejects(m.fit(x, y, { verbose: 0 }), /^Error: model: this model was disposed \(fit called after dispose\(\)\)/);
    assert.equal(memory().numTensors, afterDispose, 'nothing was re-created');
    m.dispose(); // a second dispose does nothing
    assert.throws(() => gru.build([5, 3]), new RegExp(`^Error: ${gru.name}: this layer was disposed \\(build called after dispose\\(\\)\\)`));
    const t = tensor(x.data, x.shape);
    assert.throws(() => (gru as ReturnType<typeof layers.gru>).call(t), /this layer was disposed \(call called after dispose\(\)\)/);
    t.dispose();
    assert.throws(() => sequential([gru]), /model\.add: layer .* was disposed/);
    // Disposed while training (here by a callback): the next batch throws instead of running on freed weights.
    const m2 = noisyModel(2);
    await assert.rejects(m2.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0, callbacks: [{ onBatchEnd: () => m2.dispose() }] }), /^Error: model: this model was disposed \(fit called after dispose\(\)\)/);
    // A disposed layer inside timeDistributed counts too.
    const inner = layers.dense({ units: 2 });
    const td = layers.timeDistributed({ layer: inner });
    td.dispose();
    assert.ok(td.disposed && inner.disposed);
  });

  it('saveHistoryPlot puts a resumed run on its own epochs (history.epoch), numbered from 1 as Keras prints them', async () => {
    const m = noisyModel(3);
    const h = await m.fit(x, y, { epochs: 13, initialEpoch: 10, verbose: 0 });
    assert.deepEqual(h.epoch, [10, 11, 12]);
    const file = path.join(tempDir(), 'plot.svg');
    saveHistoryPlot(h, file);
    const svg = fs.readFileSync(file, 'utf8');
    const labels = [...svg.matchAll(/<text x="[\d.]+" y="\d+" text-anchor="middle">(\d+)<\/text>/g)].map((mm) => Number(mm[1]));
    assert.deepEqual(labels, [11, 12, 13]);
    // The points span the plot from the first epoch's x to the last one's (64 … 640 − 150).
    const xs = /<polyline[^>]*points="([^"]+)"/.exec(svg)![1]!.split(' ').map((p) => Number(p.split(',')[0]));
    assert.deepEqual(xs, [64, 277, 490]);
    // A plain record is plotted by index from epoch 1.
    const plain = historyToSvg({ loss: [3, 2, 1] });
    assert.deepEqual([...plain.matchAll(/text-anchor="middle">(\d+)<\/text>/g)].map((mm) => Number(mm[1])), [1, 2, 3]);
    assert.throws(() => historyToSvg(h, { keys: ['val_loss'] }), /historyToSvg: 'keys' must name series of the history \(loss\)/);
    assert.throws(() => saveHistoryPlot(h, 7 as never), /saveHistoryPlot: argument 'path' must be a file path/);
    m.dispose();
  });

  it('plain-object callbacks see this.model and this.params, and keep their own state', async () => {
    const m = noisyModel(4);
    const hooks = {
      ends: 0,
      onEpochEnd(this: { ends: number; model: Sequential; params: { epochs: number } }, epoch: number) {
        this.ends += 1;
        assert.equal(this.params.epochs, 10);
        if (epoch === 1) this.model.stopTraining = true;
      },
    };
    const h = await m.fit(x, y, { epochs: 10, verbose: 0, callbacks: [hooks] });
    assert.deepEqual(h.epoch, [0, 1]);
    assert.equal(h.stopped, true);
    assert.equal(hooks.ends, 2);
    assert.equal((hooks as unknown as { model: Sequential }).model, m);
    assert.deepEqual(Object.keys(hooks), ['ends', 'onEpochEnd'], 'model and params are not enumerable');
    m.dispose();
  });

  it('two concurrent seeded fits (shuffle + dropout) give bitwise the results of the same fits run one after the other', async () => {
    const fitArgs = { epochs: 3, batchSize: 4, verbose: 0 as const };
    // One after the other.
    const a1 = noisyModel(7);
    const b1 = noisyModel(8);
    await a1.fit(x, y, fitArgs);
    await b1.fit(x, y, fitArgs);
    // Concurrently, their batches interleaved.
    const a2 = noisyModel(7);
    const b2 = noisyModel(8);
    const order: string[] = [];
    const log = (name: string) => ({ onBatchEnd: () => void order.push(name) });
    await Promise.all([a2.fit(x, y, { ...fitArgs, callbacks: [log('a')] }), b2.fit(x, y, { ...fitArgs, callbacks: [log('b')] })]);
    assert.ok(order.slice(0, 6).join('').includes('ab'), `the fits interleaved: ${order.join('')}`);
    for (const [alone, together] of [[a1, a2], [b1, b2]] as const) {
      alone.getWeights().forEach((w, i) => assert.ok(Buffer.from(w.buffer).equals(Buffer.from(together.getWeights()[i]!.buffer)), `weight ${i} differs`));
    }
    // The stream decides shuffling and dropout: the same initial weights with another stream train differently.
    const c = noisyModel(7);
    noisyModel(8).dispose();
    setSeed(123);
    await c.fit(x, y, fitArgs);
    assert.notDeepEqual(Array.from(c.getWeights()[0]!), Array.from(a1.getWeights()[0]!));
    for (const m of [a1, b1, a2, b2, c]) m.dispose();
  });
});
