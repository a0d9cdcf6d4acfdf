// The functional API: input(), layer.apply(), model(). Checked against Sequential (a chain graph
// must compute exactly what the same stack computes, masking included), against central finite
// differences of the loss (two inputs, encoder-decoder through the GRU state, shared layers,
// merge layers, several outputs with lossWeights), and against float64 losses recomputed here
// from the model's predictions. Tensor counts return to baseline.
import assert from 'node:assert/strict';
import { Model, callbacks, input, keep as keepTensor, layers, loadModel, memory, model, optimizers, sequential, setSeed, tensor, type SymbolicTensor, type Tensor } from '../lib';
import { tempDir } from './support/temp-dir';
import * as fs from 'node:fs';
import * as path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort: typeof import('onnxruntime-node') | null = (() => { try { return require('onnxruntime-node'); } catch { return null; } })();
import { Layer, type LayerShape } from '../lib/layers';
import { rand } from './io-helpers/reference';
import { checkModelGradients } from './support/grad-check';
import { disposeModelsAfterEach } from './support/models';
import { seededRandom } from './support/prng';

const N = 5, T = 4, F = 3;
const x = rand(N * T * F, 11, 1);
const xData = { data: x, shape: [N, T, F] };

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

describe('functional models', () => {
  const made = disposeModelsAfterEach<{ dispose(): void }>();
  const keep = <M extends { dispose(): void }>(m: M): M => (made.push(m), m);

  it('a chain graph computes what the same Sequential stack computes: predict, loss, one training step', async () => {
    setSeed(4);
    const s = keep(sequential([layers.gru({ units: 4, inputShape: [T, F], returnSequences: true }), layers.gru({ units: 3 }), layers.dense({ units: 2, activation: 'softmax' })]));
    const i = input({ shape: [T, F] });
    let h = layers.gru({ units: 4, returnSequences: true }).apply(i);
    h = layers.gru({ units: 3 }).apply(h);
    const m = keep(model({ inputs: i, outputs: layers.dense({ units: 2, activation: 'softmax' }).apply(h) }));
    m.setWeights(s.getWeights());
    const y = Float32Array.from({ length: N * 2 }, (_, k) => ((k >> 1) % 2 === k % 2 ? 1 : 0));
    const yData = { data: y, shape: [N, 2] };
    for (const net of [s, m]) net.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const ps = s.predict(xData), pm = m.predict(xData) as Tensor;
    close(pm.dataSync(), ps.dataSync(), 1e-6, 'predict');
    ps.dispose();
    pm.dispose();
    assert.deepEqual(m.evaluate(xData, yData), s.evaluate(xData, yData));
    s.trainOnBatch(xData, yData);
    m.trainOnBatch(xData, yData);
    s.getWeights().forEach((w, k) => close(m.getWeights()[k]!, w, 1e-6, `weight ${k}`));
  });

  it('trainOnBatch takes tensors as the batch: two inputs train as from host data', () => {
    const build = () => {
      setSeed(9);
      const seq = input({ shape: [T, F] });
      const stat = input({ shape: [2] });
      const joined = layers.concatenate().apply([layers.gru({ units: 3 }).apply(seq) as SymbolicTensor, stat]);
      const net = keep(model({ inputs: [seq, stat], outputs: layers.dense({ units: 1 }).apply(joined) }));
      net.compile({ optimizer: 'adam', loss: 'mse' });
      return net;
    };
    const sData = { data: rand(N * 2, 12, 1), shape: [N, 2] };
    const yData = { data: rand(N, 13, 1), shape: [N, 1] };
    const fromHost = build(), fromTensors = build();
    const xs = [tensor(xData.data, xData.shape), tensor(sData.data, sData.shape)];
    const y = tensor(yData.data, yData.shape);
    try {
      for (let step = 0; step < 2; step++) assert.equal(fromTensors.trainOnBatch(xs, y), fromHost.trainOnBatch([xData, sData], yData), `loss at step ${step}`);
      fromHost.getWeights().forEach((w, k) => assert.deepEqual(fromTensors.getWeights()[k], w, `weight ${k}`));
    } finally {
      for (const t of [...xs, y]) t.dispose();
    }
  });

  it('masking flows along graph edges: embedding maskZero → GRU equals the Sequential stack', () => {
    setSeed(5);
    const tokens = { data: Int32Array.from([3, 1, 2, 0, 0, 4, 4, 0, 2, 2, 2, 2]), shape: [3, 4] };
    const s = keep(sequential([layers.embedding({ inputDim: 5, outputDim: 3, maskZero: true, inputShape: [4] }), layers.gru({ units: 3, returnSequences: true }), layers.dense({ units: 1 })]));
    const i = input({ shape: [4] });
    const e = layers.embedding({ inputDim: 5, outputDim: 3, maskZero: true }).apply(i);
    const m = keep(model({ inputs: i, outputs: layers.dense({ units: 1 }).apply(layers.gru({ units: 3, returnSequences: true }).apply(e)) }));
    m.setWeights(s.getWeights());
    const y = { data: rand(12, 3, 1), shape: [3, 4, 1] };
    for (const net of [s, m]) net.compile({ optimizer: 'sgd', loss: 'mse' });
    const ps = s.predict(tokens), pm = m.predict(tokens) as Tensor;
    close(pm.dataSync(), ps.dataSync(), 1e-6, 'predict');
    ps.dispose();
    pm.dispose();
    // the loss leaves padded steps out in both
    close([m.evaluate(tokens, y).loss!], [s.evaluate(tokens, y).loss!], 1e-6, 'masked loss');
    s.trainOnBatch(tokens, y);
    m.trainOnBatch(tokens, y);
    s.getWeights().forEach((w, k) => close(m.getWeights()[k]!, w, 1e-6, `weight ${k}`));
  });

  it('two inputs (sequence and static features) joined by concatenate: gradients match finite differences', () => {
    setSeed(6);
    const seq = input({ shape: [T, F], name: 'seq' });
    const stat = input({ shape: [2], name: 'stat' });
    const joined = layers.concatenate().apply([layers.gru({ units: 3 }).apply(seq) as never, stat]);
    const m = keep(model({ inputs: [seq, stat], outputs: layers.dense({ units: 2 }).apply(layers.dense({ units: 4, activation: 'tanh' }).apply(joined)) }));
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const s = { data: rand(N * 2, 8, 1), shape: [N, 2] };
    const y = { data: rand(N * 2, 9, 1), shape: [N, 2] };
    checkModelGradients(m, [xData, s], y, { pick: seededRandom(1) });
    // inputs may also come keyed by name
    const a = m.evaluate({ stat: s, seq: xData }, y).loss!, b = m.evaluate([xData, s], y).loss!;
    assert.equal(a, b);
  });

  it('encoder-decoder: the encoder state starts the decoder (teacher forcing); gradients reach the encoder only through the state', () => {
    setSeed(7);
    const enc = input({ shape: [T, F], name: 'source' });
    const dec = input({ shape: [3, 2], name: 'target_in' });
    const [, state] = layers.gru({ units: 4, returnState: true }).apply(enc) as [never, never];
    const seqOut = layers.gru({ units: 4, returnSequences: true }).apply([dec, state]);
    const out = layers.timeDistributed({ layer: layers.dense({ units: 2 }) }).apply(seqOut);
    const m = keep(model({ inputs: [enc, dec], outputs: out }));
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const d = { data: rand(N * 3 * 2, 21, 1), shape: [N, 3, 2] };
    const y = { data: rand(N * 3 * 2, 22, 1), shape: [N, 3, 2] };
    const { grads } = m.computeGradients([xData, d], y);
    assert.ok(grads[0]!.some((g) => g !== 0), 'the encoder weights get a gradient through the state');
    checkModelGradients(m, [xData, d], y, { pick: seededRandom(2) });
  });

  it('a shared layer applied twice shares its weights and sums both calls\' gradients; add, multiply, average', () => {
    setSeed(8);
    const a = input({ shape: [3] }), b = input({ shape: [3] });
    const shared = layers.dense({ units: 3, activation: 'tanh' });
    const sa = shared.apply(a) as never, sb = shared.apply(b) as never;
    const merged = layers.average().apply([layers.add().apply([sa, sb]) as never, layers.multiply().apply([sa, sb, a]) as never]);
    const m = keep(model({ inputs: [a, b], outputs: layers.dense({ units: 1 }).apply(merged) }));
    assert.equal(m.params.length, 4, 'one kernel and bias for both calls of the shared layer, and the output layer\'s');
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const xa = { data: rand(N * 3, 31, 1), shape: [N, 3] }, xb = { data: rand(N * 3, 32, 1), shape: [N, 3] };
    const y = { data: rand(N, 33, 1), shape: [N, 1] };
    checkModelGradients(m, [xa, xb], y, { pick: seededRandom(3), samples: Infinity });
    assert.match(m.summary(() => {}), /dense.*\(Dense\).*\n?.*input_\d+ \| input_\d+/);
  });

  it('several outputs: the loss is Σ lossWeights·loss per output (float64 from the predictions); per-output logs; gradients', async () => {
    setSeed(9);
    const i = input({ shape: [T, F] });
    const h = layers.gru({ units: 4 }).apply(i);
    const reg = layers.dense({ units: 2, name: 'reg' }).apply(h) as SymbolicTensor;
    const cls = layers.dense({ units: 1, activation: 'sigmoid', name: 'cls' }).apply(h) as SymbolicTensor;
    const m = keep(model({ inputs: i, outputs: [reg, cls] }));
    m.compile({ optimizer: 'sgd', loss: { reg: 'mse', cls: 'binaryCrossentropy' }, metrics: { reg: ['mae'], cls: ['accuracy'] }, lossWeights: [0.3, 2] });
    const yr = rand(N * 2, 41, 1), yc = Float32Array.from({ length: N }, (_, k) => k % 2);
    const ys = { reg: { data: yr, shape: [N, 2] }, cls: { data: yc, shape: [N, 1] } };
    const [pr, pc] = m.predict(xData) as Tensor[];
    const r = pr!.dataSync(), c = pc!.dataSync();
    pr!.dispose();
    pc!.dispose();
    let mse = 0, mae = 0, bce = 0, acc = 0;
    for (let k = 0; k < N * 2; k++) (mse += (r[k]! - yr[k]!) ** 2 / (N * 2)), (mae += Math.abs(r[k]! - yr[k]!) / (N * 2));
    for (let k = 0; k < N; k++) (bce -= (yc[k]! * Math.log(c[k]!) + (1 - yc[k]!) * Math.log(1 - c[k]!)) / N), (acc += ((c[k]! > 0.5 ? 1 : 0) === yc[k] ? 1 : 0) / N);
    const logs = m.evaluate(xData, ys);
    assert.deepEqual(Object.keys(logs), ['loss', 'reg_loss', 'reg_mae', 'cls_loss', 'cls_accuracy']);
    close([logs.reg_loss!, logs.reg_mae!, logs.cls_loss!, logs.cls_accuracy!], [mse, mae, bce, acc], 1e-5, 'per-output logs');
    close([logs.loss!], [0.3 * mse + 2 * bce], 1e-5, 'weighted total');
    checkModelGradients(m, xData, [ys.reg, ys.cls], { pick: seededRandom(4) });
    // one loss for all outputs, as Keras: each output's loss is that loss
    const same = keep(model({ inputs: i, outputs: [reg, cls] }));
    same.compile({ optimizer: 'sgd', loss: 'mse' });
    const both = same.evaluate(xData, ys);
    close([both.reg_loss!, both.loss!], [mse, mse + both.cls_loss!], 1e-5, 'one loss for every output');
    const h2 = await m.fit(xData, ys, { epochs: 2, batchSize: 2, verbose: 0, validationSplit: 0.4 });
    assert.deepEqual(Object.keys(h2.history).sort(), ['cls_accuracy', 'cls_loss', 'loss', 'reg_loss', 'reg_mae', 'val_cls_accuracy', 'val_cls_loss', 'val_loss', 'val_reg_loss', 'val_reg_mae']);
  });

  it('fitDataset trains a two-input model from batches keyed by input name; dataset tensors are freed', async () => {
    setSeed(10);
    const seq = input({ shape: [T, F], name: 'seq' });
    const stat = input({ shape: [2], name: 'stat' });
    const out = layers.dense({ units: 1 }).apply(layers.concatenate().apply([layers.gru({ units: 3 }).apply(seq) as never, stat]));
    const build = () => {
      setSeed(10);
      const m = keep(model({ inputs: [seq, stat], outputs: out }));
      return m;
    };
    const m = build();
    m.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'mse' });
    const w0 = m.getWeights();
    const s = rand(N * 2, 51, 1), y = rand(N, 52, 1);
    const ref = await m.fit({ seq: xData, stat: { data: s, shape: [N, 2] } }, { data: y, shape: [N, 1] }, { epochs: 2, batchSize: N, shuffle: false, verbose: 0 });
    const wFit = m.getWeights();
    m.setWeights(w0);
    m.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'mse' });
    const before = memory().numTensors;
    const h = await m.fitDataset(() => [{ xs: { seq: tensor(x, [N, T, F]), stat: tensor(s, [N, 2]) }, ys: tensor(y, [N, 1]) }], { epochs: 2, verbose: 0 });
    assert.equal(memory().numTensors, before);
    assert.deepEqual(h.history.loss, ref.history.loss);
    m.getWeights().forEach((w, k) => assert.deepEqual(w, wFit[k]));
    const logs = await m.evaluateDataset([{ xs: [xData, { data: s, shape: [N, 2] }], ys: { data: y, shape: [N, 1] } }]);
    assert.equal(logs.loss, m.evaluate([xData, { data: s, shape: [N, 2] }], { data: y, shape: [N, 1] }).loss);
  });

  it('predict frees intermediate tensors once their last consumer ran; outputs are the only survivors', () => {
    setSeed(11);
    /** Records the live tensor count when the graph reaches it. */
    class Probe extends Layer {
      seen = 0;
      constructor() {
        super('Probe', {}, { fn: 'probe', keys: [] });
      }
      protected doBuild(shape: LayerShape): LayerShape {
        return shape;
      }
      forward(t: Tensor): Tensor {
        this.seen = memory().numTensors;
        return t;
      }
      backward(dy: Tensor): Tensor {
        return dy;
      }
    }
    const liveAtEnd = (depth: number) => {
      const i = input({ shape: [T, F] });
      let h = i;
      for (let k = 0; k < depth; k++) h = layers.dense({ units: 3 }).apply(h) as typeof i;
      const probe = new Probe();
      const m: Model = keep(model({ inputs: i, outputs: probe.apply(h) }));
      const before = memory().numTensors;
      const p = m.predict(xData) as Tensor;
      assert.equal(memory().numTensors, before + 1);
      assert.deepEqual(p.shape, [N, T, 3]);
      p.dispose();
      return probe.seen - before;
    };
    assert.equal(liveAtEnd(8), liveAtEnd(2), 'a deeper chain holds no more tensors at its end');
  });

  it('a layer that throws mid-forward during fit leaves nothing saved (functional and sequential); a later fit works', async () => {
    setSeed(12);
    /** Keeps a tensor outside the step's scope for backward (as a recurrent layer keeps its native state); throws while `failing`. */
    class Faulty extends Layer {
      failing = true;
      constructor() {
        super('Faulty', {}, { fn: 'faulty', keys: [] });
      }
      protected doBuild(shape: LayerShape): LayerShape {
        return shape;
      }
      forward(t: Tensor): Tensor {
        this.saved = keepTensor(t.clone());
        if (this.failing) throw new Error('faulty: failing on purpose');
        return t;
      }
      backward(dy: Tensor): Tensor {
        this.clearSaved();
        return dy;
      }
      override clearSaved(): void {
        (this.saved as Tensor | null)?.dispose();
        super.clearSaved();
      }
    }
    const y = { data: rand(N * 2, 13, 1), shape: [N, 2] };
    const faulty = [new Faulty(), new Faulty()];
    const i = input({ shape: [T, F] });
    const fromGraph: Model = keep(model({ inputs: i, outputs: layers.dense({ units: 2 }).apply(faulty[0]!.apply(layers.gru({ units: 3 }).apply(i) as SymbolicTensor) as SymbolicTensor) as SymbolicTensor }));
    const stack = keep(sequential([layers.gru({ units: 3, inputShape: [T, F] }), faulty[1]!, layers.dense({ units: 2 })]));
    for (const [k, m] of [fromGraph, stack].entries()) {
      m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
      const before = memory().numTensors;
      await assert.rejects(m.fit(xData, y, { epochs: 1, verbose: 0 }), /faulty: failing on purpose/);
      assert.equal(memory().numTensors, before, `model ${k}: tensors after the failed fit`);
      faulty[k]!.failing = false;
      const h = await m.fit(xData, y, { epochs: 2, verbose: 0 });
      assert.equal(memory().numTensors, before, `model ${k}: tensors after the later fit`);
      assert.ok(h.history.loss!.every((l) => Number.isFinite(l)) && h.history.loss![1]! < h.history.loss![0]!, `model ${k}: ${h.history.loss}`);
    }
  });

  it('bidirectional wrapper with returnState starts a bidirectional decoder; repeatVector, reshape, flatten: gradients match finite differences', () => {
    setSeed(13);
    const src = input({ shape: [T, F] });
    const [encoded, fwd, bwd] = layers.bidirectional({ layer: layers.gru({ units: 3, returnState: true }), mergeMode: 'sum' }).apply(src) as SymbolicTensor[];
    assert.deepEqual(encoded!.shape, [3]);
    const repeated = layers.repeatVector({ n: 2 }).apply(encoded!) as SymbolicTensor; // [2, 3]
    const decoded = layers.gru({ units: 3, bidirectional: true, returnSequences: true }).apply([repeated, fwd!, bwd!]) as SymbolicTensor; // [2, 6]
    const flat = layers.flatten().apply(layers.reshape({ targetShape: [3, 4] }).apply(decoded)) as SymbolicTensor; // [12]
    const m = keep(model({ inputs: src, outputs: layers.dense({ units: 2 }).apply(flat) }));
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const y = { data: rand(N * 2, 71, 1), shape: [N, 2] };
    checkModelGradients(m, xData, y, { pick: seededRandom(5) });
    assert.throws(() => layers.bidirectional({ layer: layers.dense({ units: 2 }) as never }), /bidirectional: 'layer' must be a GRU, LSTM or SimpleRNN layer/);
    assert.throws(() => layers.reshape({ targetShape: [5] }).apply(decoded), /cannot reshape \[batch, 2, 6\] to \[batch, 5\]: the sizes differ/);
  });

  it('nested models as layers: a Sequential applied to two inputs (siamese, shared weights) and a functional model inside another', () => {
    setSeed(14);
    const tower = keep(sequential([layers.gru({ units: 3, inputShape: [T, F] }), layers.dense({ units: 2, activation: 'tanh' })]));
    const a = input({ shape: [T, F] }), b = input({ shape: [T, F] });
    const inner = model({ inputs: [a, b], outputs: layers.concatenate().apply([tower.apply(a), tower.apply(b)]) });
    const x2 = input({ shape: [T, F] }), x3 = input({ shape: [T, F] });
    const head = layers.dense({ units: 1 });
    const outer = keep(model({ inputs: [x2, x3], outputs: head.apply(inner.apply([x2, x3]) as SymbolicTensor) }));
    assert.equal(outer.params.length, tower.params.length + 2, 'the tower is shared, not copied');
    const other = { data: rand(N * T * F, 81, 1), shape: [N, T, F] };
    // outer = head ∘ inner, computed separately
    const h = input({ shape: [4] });
    const headOnly = model({ inputs: h, outputs: head.apply(h) });
    const mid = inner.predict([xData, other]) as Tensor;
    const want = headOnly.predict(mid) as Tensor, got = outer.predict([xData, other]) as Tensor;
    close(got.dataSync(), want.dataSync(), 1e-6, 'nested predict');
    for (const t of [mid, want, got]) t.dispose();
    outer.compile({ optimizer: 'sgd', loss: 'mse' });
    checkModelGradients(outer, [xData, other], { data: rand(N, 82, 1), shape: [N, 1] }, { pick: seededRandom(6) });
  });

  it('save and loadModel round-trip a functional model: topology with shared layers and states, weights, optimizer state', async () => {
    setSeed(12);
    const enc = input({ shape: [T, F], name: 'source' });
    const side = input({ shape: [4], name: 'side' });
    const shared = layers.dense({ units: 4, activation: 'tanh', name: 'shared' });
    const [, state] = layers.gru({ units: 4, returnState: true, name: 'encoder' }).apply(enc) as SymbolicTensor[];
    const joined = layers.add({ name: 'join' }).apply([shared.apply(state!) as SymbolicTensor, shared.apply(side) as SymbolicTensor]);
    const m = keep(model({ inputs: [enc, side], outputs: [layers.dense({ units: 2, name: 'head' }).apply(joined) as SymbolicTensor, state!], name: 'two_heads' }));
    m.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: ['mse', 'mae'], metrics: { head: ['mae'], 'encoder:1': [] }, lossWeights: [1, 0.5] });
    const s = { data: rand(N * 4, 61, 1), shape: [N, 4] };
    const ys = [{ data: rand(N * 2, 62, 1), shape: [N, 2] }, { data: rand(N * 4, 63, 0.5), shape: [N, 4] }];
    await m.fit([xData, s], ys, { epochs: 2, batchSize: 2, verbose: 0 });
    const dir = tempDir();
    m.save(dir);
    const back = keep(loadModel<Model>(dir));
    assert.ok(back instanceof Model);
    assert.deepEqual(back.outputNames, m.outputNames);
    assert.equal(back.params.length, m.params.length, 'the shared layer is saved once');
    m.getWeights().forEach((w, k) => assert.deepEqual(back.getWeights()[k], w));
    assert.deepEqual(back.evaluate([xData, s], ys), m.evaluate([xData, s], ys));
    // the optimizer state came back: one more step on each gives the same weights
    m.trainOnBatch([xData, s], ys);
    back.trainOnBatch([xData, s], ys);
    m.getWeights().forEach((w, k) => assert.deepEqual(back.getWeights()[k], w));
  });

  it('modelCheckpoint and resumeFrom: an interrupted functional fit resumed from its checkpoint equals an uninterrupted one (shuffling included)', async () => {
    const build = () => {
      setSeed(15);
      const i = input({ shape: [T, F] }), s2 = input({ shape: [2] });
      const out = layers.dense({ units: 1 }).apply(layers.concatenate().apply([layers.gru({ units: 3 }).apply(i) as SymbolicTensor, s2]));
      const m = keep(model({ inputs: [i, s2], outputs: out as SymbolicTensor }));
      m.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'mse' });
      return m;
    };
    const xs = [xData, { data: rand(N * 2, 91, 1), shape: [N, 2] }];
    const y = { data: rand(N, 92, 1), shape: [N, 1] };
    const whole = build();
    await whole.fit(xs, y, { epochs: 4, batchSize: 2, verbose: 0 });
    const dir = tempDir();
    const first = build();
    await first.fit(xs, y, { epochs: 2, batchSize: 2, verbose: 0, callbacks: [callbacks.modelCheckpoint({ filepath: dir })] });
    const resumed = build();
    const h = await resumed.fit(xs, y, { epochs: 4, batchSize: 2, verbose: 0, resumeFrom: dir });
    assert.deepEqual(h.epoch, [2, 3]);
    whole.getWeights().forEach((w, k) => assert.deepEqual(resumed.getWeights()[k], w));
  });

  it('exportOnnx: a chain-shaped functional model runs in onnxruntime like predict, with the model\'s input and output names (graphs: test/io-onnx-graph.test.ts)', async function () {
    setSeed(16);
    const i = input({ shape: [T, F] });
    const m = keep(model({ inputs: i, outputs: layers.dense({ units: 2, activation: 'tanh' }).apply(layers.gru({ units: 3, returnSequences: true }).apply(i)) as SymbolicTensor }));
    const file = path.join(tempDir(), 'chain.onnx');
    m.exportOnnx(file);
    if (!ort) return this.skip();
    const session = await ort.InferenceSession.create(fs.readFileSync(file));
    const out = (await session.run({ [m.inputNames[0]!]: new ort.Tensor('float32', x, [N, T, F]) }))[m.outputNames[0]!]!;
    const p = m.predict(xData) as Tensor;
    close(out.data as Float32Array, p.dataSync(), 1e-5, 'onnxruntime vs predict');
    p.dispose();
  });

  it('bad graphs and arguments are errors naming the function and the argument', () => {
    const a = input({ shape: [3], name: 'a' }), b = input({ shape: [4], name: 'b' });
    const d = keep(layers.dense({ units: 2 }));
    const concrete = tensor([1, 2, 3], [1, 3]);
    assert.throws(() => d.apply(concrete as never), /dense(_\d+)?\.apply: argument 'inputs' must be a symbolic tensor .*got/);
    concrete.dispose();
    assert.throws(() => d.apply([]), /\.apply: argument 'inputs' must be a symbolic tensor or a non-empty array/);
    d.apply(a);
    assert.throws(() => d.apply(b), /was built for inputs \[batch, 3\] and cannot take \[batch, 4\]/);
    assert.throws(() => layers.add().apply([a, b]), /inputs must have equal shapes/);
    assert.throws(() => layers.concatenate().apply([a]), /merges two or more inputs/);
    assert.throws(() => layers.concatenate({ axis: 0 }), /concatenate: 'axis' must be -1/);
    assert.throws(() => layers.gru({ units: 2 }).apply([input({ shape: [2, 3] }), a]), /initial states must be 1 tensors of shape \[batch, 2\]/);
    assert.throws(() => model({ inputs: a, outputs: keep(layers.dense({ units: 1 })).apply(b) }), /model: the outputs depend on b, which is not in inputs/);
    assert.throws(() => model({ inputs: [a, b], outputs: keep(layers.dense({ units: 1 })).apply(a) }), /model: input b is not used by any output/);
    assert.throws(() => model({ inputs: a, outputs: [5] } as never), /model: 'outputs'\[0\] must be a symbolic tensor/);
    assert.throws(() => model({ inputs: a, outputs: a }), /model: outputs\[0\] \(a\) is a model input; outputs must come from layer calls/);
    assert.throws(() => input({ shape: [0] }), /input: 'shape' must be a non-empty array of positive integers/);
    assert.throws(() => input({ shape: [2], batchShape: [1, 2] } as never), /input: unknown option 'batchShape'/);
    const m = keep(model({ inputs: [a, b], outputs: layers.concatenate().apply([a, b]) }));
    assert.throws(() => m.predict([[[1, 2, 3]]] as never), /predict: 'x' must have 2 entries \(a, b\), got 1/);
    assert.throws(() => m.predict({ a: [[1, 2, 3]], c: [[1, 2, 3, 4]] } as never), /predict: 'x' has no entry 'c' \(did you mean 'a'\?\)/);
    assert.throws(() => m.predict([[[1, 2, 3]], [[1, 2, 3]]]), /predict: x \(b\) must have shape \[samples, 4\], got \[1,3\]/);
    assert.throws(() => m.evaluate([[[1, 2, 3]], [[1, 2, 3, 4]]], [[1]]), /evaluate: call compile/);
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    assert.throws(() => m.evaluate([[[1, 2, 3]], [[1, 2, 3, 4]]], [[1]]), /evaluate: y must have shape \[samples, 7\]/);
    assert.throws(() => m.compile({ optimizer: 'sgd', loss: 'mse', lossWeight: [1] } as never), /compile: unknown option 'lossWeight' \(did you mean 'lossWeights'\?\)/);
    assert.throws(() => m.compile({ optimizer: 'sgd', loss: { concat: 'mse' } }), /compile: 'loss' has no entry 'concat'/);
  });
});
