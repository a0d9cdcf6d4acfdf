// Sequential models: parameter counts, whole-model gradient checks (every layer type) against
// finite differences, fit/evaluate/predict lifecycle (no leaks, responsive event loop, abort),
// callbacks, reproducibility and bad input.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { backendInfo, callbacks, getRngState, historyToSvg, input, layers, memory, model, optimizers, sequential, setDevice, setRngState, setSeed, tensor, tidy, type Sequential, type SymbolicTensor, type Tensor } from '../lib';
import { native } from '../lib/native';
import * as random from '../lib/random';
import { testDevices } from './support/devices';
import { checkModelGradients } from './support/grad-check';

let s = 99;
const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31), s / 2 ** 31);
function data(n: number, shape: number[], f: () => number = () => rnd() * 2 - 1) {
  const size = n * shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: size }, f), shape: [n, ...shape] };
}
function classification(n: number, T = 5, F = 3) {
  const x = data(n, [T, F]);
  const y = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const c = x.data[i * T * F + (T - 1) * F]! + x.data[i * T * F]! > 0 ? 1 : 0;
    y[i * 2 + c] = 1;
  }
  return { x, y: { data: y, shape: [n, 2] } };
}

/** Whole-model gradient check (test/support/grad-check.ts) sampling entries with this file's generator. */
const gradCheck = (model: Sequential, x: Parameters<Sequential['computeGradients']>[0], y: Parameters<Sequential['computeGradients']>[1], seed = 5, samples = 4): void =>
  checkModelGradients(model, x, y, { seed, samples, pick: rnd });

describe('sequential models', function () {
  this.timeout(120000);
  let baseline: number;
  beforeEach(() => {
    baseline = memory().numTensors;
  });
  afterEach(() => {
    assert.equal(memory().numTensors, baseline, 'tensors leaked');
    assert.equal(memory().numResources, 0, 'resources leaked');
  });

  it('counts parameters as Keras does and prints a summary', () => {
    const m = sequential([
      layers.embedding({ inputDim: 1000, outputDim: 8, inputShape: [null] }),
      layers.gru({ units: 20, returnSequences: true }),
      layers.gru({ units: 16, bidirectional: true }),
      layers.dense({ units: 2, activation: 'softmax' }),
    ]);
    // Keras GRU(reset_after=True): 3·(in·H + H·H + 2H)
    assert.deepEqual(m.layers.map((l) => l.countParams()), [8000, 3 * (8 * 20 + 400 + 40), 2 * 3 * (20 * 16 + 256 + 32), 33 * 2]);
    const lines: string[] = [];
    let text = '';
    try {
      text = m.summary((l) => lines.push(l));
    } finally {
      m.dispose();
    }
    assert.match(text, /gru_?\d* \(GRU\)\s+\(None, None, 20\)\s+1800/);
    assert.match(text, /Total params: 13,514/);
  });

  it('gradient check: embedding(maskZero) → bidirectional GRU (sum, sequences) → timeDistributed(dense softmax), sparse CCE', () => {
    setSeed(1);
    const m = sequential([
      layers.embedding({ inputDim: 7, outputDim: 4, maskZero: true, inputShape: [5] }),
      layers.gru({ units: 3, bidirectional: true, mergeMode: 'sum', returnSequences: true }),
      layers.timeDistributed({ layer: layers.dense({ units: 3, activation: 'softmax' }) }),
    ]);
    m.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
    const x = { data: Int32Array.from([1, 2, 3, 0, 0, 4, 5, 6, 1, 2, 3, 0, 0, 0, 0]), shape: [3, 5] };
    const y = { data: Int32Array.from([0, 1, 2, 0, 1, 2, 1, 0, 2, 1, 0, 0, 0, 0, 0]), shape: [3, 5] };
    gradCheck(m, x, y);
    m.dispose();
  });

  it('gradient check: 2-layer bidirectional GRU (concat, goBackwards, dropout) → dropout → dense(elu) → dense(sigmoid), BCE', () => {
    setSeed(2);
    const m = sequential([
      layers.gru({ units: 4, numLayers: 2, bidirectional: true, goBackwards: true, dropout: 0.3, inputShape: [4, 3] }),
      layers.dropout({ rate: 0.2 }),
      layers.dense({ units: 5, activation: 'elu' }),
      layers.activation({ activation: 'tanh' }),
      layers.dense({ units: 2, activation: 'sigmoid' }),
    ]);
    m.compile({ optimizer: 'adam', loss: 'binaryCrossentropy' });
    gradCheck(m, data(3, [4, 3]), data(3, [2], () => Math.round(rnd())));
    m.dispose();
  });

  for (const mergeMode of ['mul', 'ave', 'concat'] as const) {
    it(`gradient check: bidirectional GRU (mergeMode ${mergeMode}, last output) → dense, MSE and MAE`, () => {
      setSeed(3);
      const m = sequential([layers.gru({ units: 3, bidirectional: true, mergeMode, inputShape: [3, 2] }), layers.dense({ units: 2 })]);
      m.compile({ optimizer: 'sgd', loss: 'mse' });
      gradCheck(m, data(4, [3, 2]), data(4, [2]));
      m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
      m.dispose();
    });
  }

  it('gradient check: GRU sequences (pytorch init) → selectTimestep → dense, CCE from logits', () => {
    setSeed(10);
    const m = sequential([layers.gru({ units: 3, returnSequences: true, initializer: 'pytorch', inputShape: [4, 2] }), layers.selectTimestep({ index: 1 }), layers.dense({ units: 3 })]);
    m.compile({ optimizer: 'sgd', loss: { name: 'categoricalCrossentropy', fromLogits: true } });
    gradCheck(m, data(3, [4, 2]), { data: Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]), shape: [3, 3] });
    m.dispose();
  });

  it('fits a learnable task; fit/evaluate/predict leave no tensors behind; the event loop stays responsive', async () => {
    setSeed(4);
    const { x, y } = classification(256);
    const m = sequential([layers.gru({ units: 16, inputShape: [5, 3] }), layers.dense({ units: 2, activation: 'softmax' })]);
    m.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const afterBuild = memory().numTensors;
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const h = await m.fit(x, y, { epochs: 15, batchSize: 32, validationSplit: 0.2, verbose: 0 });
    delay.disable();
    assert.ok(delay.max / 1e6 < 200, `worst event-loop delay ${delay.max / 1e6} ms`);
    assert.deepEqual(Object.keys(h.history).sort(), ['accuracy', 'loss', 'val_accuracy', 'val_loss']);
    assert.equal(h.epoch.length, 15);
    assert.ok(h.history.loss![14]! < h.history.loss![0]!);
    assert.ok(h.history.val_accuracy![14]! > 0.8, `val accuracy ${h.history.val_accuracy![14]}`);
    const slots = m.optimizer!.getState(m.params).slots.flat().length;
    assert.equal(memory().numTensors, afterBuild + slots);
    const ev = m.evaluate(x, y);
    assert.ok(ev.accuracy! > 0.8);
    const p = m.predict(x, { batchSize: 50 });
    assert.deepEqual(p.shape, [256, 2]);
    p.dispose();
    assert.equal(memory().numTensors, afterBuild + slots);
    assert.match(historyToSvg(h, { title: 'loss' }), /<svg[\s\S]*<polyline[\s\S]*val_loss/);
    m.dispose();
  });

  it('stops cleanly on an AbortSignal and after terminateOnNaN', async () => {
    const { x, y } = classification(64);
    const m = sequential([layers.gru({ units: 4, inputShape: [5, 3] }), layers.dense({ units: 2, activation: 'softmax' })]);
    m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    const ac = new AbortController();
    let batches = 0;
    const h = await m.fit(x, y, { epochs: 50, batchSize: 8, verbose: 0, signal: ac.signal, callbacks: [{ onBatchEnd: () => { if (++batches === 5) ac.abort(); } }] });
    assert.equal(batches, 5);
    assert.ok(h.stopped);
    m.dispose();
    const lin = sequential([layers.gru({ units: 4, inputShape: [5, 3] }), layers.dense({ units: 2 })]);
    lin.compile({ optimizer: optimizers.sgd({ learningRate: 1e30 }), loss: 'mse' });
    const h2 = await lin.fit(x, y, { epochs: 20, batchSize: 8, verbose: 0, callbacks: [callbacks.terminateOnNaN()] });
    assert.ok(h2.stopped && h2.epoch.length < 20);
    lin.dispose();
  });

  it('callbacks: hook order, earlyStopping with restoreBestWeights, reduceLROnPlateau, csvLogger', async () => {
    setSeed(6);
    const { x, y } = classification(64);
    const m = sequential([layers.gru({ units: 4, inputShape: [5, 3] }), layers.dense({ units: 2, activation: 'softmax' })]);
    m.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'categoricalCrossentropy' });
    const events: string[] = [];
    const file = path.join(os.tmpdir(), `cgru-log-${process.pid}.csv`);
    const es = callbacks.earlyStopping({ monitor: 'loss', patience: 0, minDelta: 10, restoreBestWeights: true });
    let bestWeights: Float32Array[] = [];
    const h = await m.fit(x, y, {
      epochs: 10, batchSize: 32, verbose: 0, shuffle: false,
      callbacks: [
        { onTrainBegin: () => { events.push('trainBegin'); }, onEpochBegin: (e) => { events.push(`epochBegin${e}`); }, onBatchEnd: (b) => { events.push(`batchEnd${b}`); }, onEpochEnd: (e) => { events.push(`epochEnd${e}`); if (e === 0) bestWeights = m.getWeights(); }, onTrainEnd: () => { events.push('trainEnd'); } },
        es,
        callbacks.reduceLROnPlateau({ monitor: 'loss', patience: 0, factor: 0.5, minDelta: 10 }),
        callbacks.csvLogger(file),
      ],
    });
    assert.deepEqual(events, ['trainBegin', 'epochBegin0', 'batchEnd0', 'batchEnd1', 'epochEnd0', 'epochBegin1', 'batchEnd0', 'batchEnd1', 'epochEnd1', 'trainEnd']);
    assert.equal(h.epoch.length, 2);
    assert.deepEqual(m.getWeights(), bestWeights);
    assert.equal(m.optimizer!.learningRate, 0.25);
    assert.deepEqual(h.history.learning_rate, [0.5, 0.5]); // Keras logs the rate the epoch ran with
    const csv = fs.readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(csv[0], 'epoch,learning_rate,loss');
    assert.equal(csv.length, 3);
    fs.unlinkSync(file);
    m.dispose();
  });

  it('setSeed makes training reproducible; stateful layers carry and reset state', async () => {
    const run = async () => {
      setSeed(7);
      s = 99;
      const { x, y } = classification(32);
      const m = sequential([layers.gru({ units: 4, inputShape: [5, 3], dropout: 0 }), layers.dropout({ rate: 0.3 }), layers.dense({ units: 2, activation: 'softmax' })]);
      m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
      const h = await m.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0 });
      m.dispose();
      return h.history.loss;
    };
    assert.deepEqual(await run(), await run());
    const st = sequential([layers.gru({ units: 3, stateful: true, inputShape: [2, 1] })]);
    const x = { data: Float32Array.from([1, 1]), shape: [1, 2, 1] };
    const a = st.predict(x);
    const b = st.predict(x);
    st.resetStates();
    const c = st.predict(x);
    assert.notDeepEqual(a.dataSync(), b.dataSync());
    assert.deepEqual(a.dataSync(), c.dataSync());
    [a, b, c].forEach((t) => t.dispose());
    st.dispose();
  });

  it('RNG state, optimizer state and config, trainingConfig: what checkpoints save and restore', async () => {
    setSeed(3);
    const saved = getRngState();
    const a = [random.random(), random.random()];
    setRngState(saved);
    assert.deepEqual([random.random(), random.random()], a);
    assert.throws(() => setRngState('x' as never), /setRngState: argument must be a number/);

    const { x, y } = classification(16);
    const make = () => {
      setSeed(4);
      const m = sequential([layers.gru({ units: 3, inputShape: [5, 3] }), layers.dense({ units: 2, activation: 'softmax' })]);
      m.compile({ optimizer: optimizers.adam({ learningRate: 0.01, clipnorm: 1 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
      return m;
    };
    const m = make();
    assert.deepEqual(m.trainingConfig, {
      loss: { name: 'categoricalCrossentropy', fromLogits: false }, metrics: ['accuracy'],
      optimizer: { className: 'adam', learningRate: 0.01, clipnorm: 1, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0 },
    });
    const uncompiled = sequential([layers.dense({ units: 1, inputShape: [2] })]);
    assert.equal(uncompiled.trainingConfig, null);
    uncompiled.dispose();
    assert.equal(optimizers.sgd({ learningRate: optimizers.cosineDecay({ initialLearningRate: 0.1, decaySteps: 5 }) }).getConfig().learningRate, null);
    await m.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
    const state = m.optimizer!.getState(m.params);
    const host = { iterations: state.iterations, slots: state.slots.map((s) => s.map((t) => t.dataSync() as Float32Array)) };
    const n = make();
    n.setWeights(m.getWeights());
    n.optimizer!.setState(n.params, host);
    n.optimizer!.setState(n.params, host); // replaces (and frees) the previous slots
    assert.equal(n.optimizer!.iterations, 2);
    setSeed(8);
    await m.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
    setSeed(8);
    await n.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
    assert.deepEqual(n.getWeights(), m.getWeights());
    assert.throws(() => n.optimizer!.setState(n.params, { iterations: 1, slots: [] }), /adam\.setState: 'slots' must hold one list per parameter/);
    assert.throws(() => n.optimizer!.setState(n.params, { iterations: 1, slots: n.params.map(() => [new Float32Array(1)]) }), /has 1 slots, this optimizer keeps 2/);
    m.dispose();
    n.dispose();
  });

  it('learning-rate schedules, clipping and every optimizer train', async () => {
    const { x, y } = classification(32);
    for (const opt of [
      optimizers.sgd({ learningRate: optimizers.exponentialDecay({ initialLearningRate: 0.1, decaySteps: 4, decayRate: 0.5 }), momentum: 0.9, nesterov: true, clipnorm: 1 }),
      optimizers.adamw({ learningRate: 0.01, globalClipnorm: 1 }),
      optimizers.rmsprop({ learningRate: 0.01, momentum: 0.5, clipvalue: 0.1 }),
    ]) {
      const m = sequential([layers.gru({ units: 4, inputShape: [5, 3] }), layers.dense({ units: 2, activation: 'softmax' })]);
      m.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
      const h = await m.fit(x, y, { epochs: 3, batchSize: 8, verbose: 0 });
      assert.ok(h.history.loss!.every(Number.isFinite));
      assert.equal(opt.iterations, 12);
      m.dispose();
    }
    assert.equal(optimizers.exponentialDecay({ initialLearningRate: 1, decaySteps: 2, decayRate: 0.5, staircase: true })(3), 0.5);
  });

  it('reports bad input clearly', async () => {
    const m = sequential([layers.gru({ units: 4, inputShape: [5, 3] }), layers.dense({ units: 2, activation: 'softmax' })]);
    const { x, y } = classification(8);
    await assert.rejects(m.fit(x, y), /call compile\(\{optimizer, loss\}\) before fit\(\)/);
    assert.throws(() => m.compile({ optimizer: 'adam', loss: 'hinge' }), /unknown loss the string 'hinge'/);
    assert.throws(() => m.compile({ optimizer: 'nadam' as 'adam', loss: 'mse' }), /unknown optimizer the string 'nadam'/);
    assert.throws(() => m.compile({ optimizer: 'adam', loss: 'mse', metrics: ['f1'] }), /unknown metric/);
    m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    await assert.rejects(m.fit(data(8, [4, 3]), y, { verbose: 0 }), /x must have shape \[samples, 5, 3\], got \[8,4,3\]/);
    await assert.rejects(m.fit(x, data(7, [2]), { verbose: 0 }), /x and y have different sample counts: 8 and 7/);
    await assert.rejects(m.fit(x, data(8, [3]), { verbose: 0 }), /y must have shape \[samples, 2\]/);
    const bad = { data: x.data.slice(), shape: x.shape };
    bad.data[2 * 15 + 4] = NaN;
    await assert.rejects(m.fit(bad, y, { verbose: 0 }), /x contains NaN at sample 2, feature index \[1, 1\]/);
    await assert.rejects(m.fit(x, y, { epochs: 0 }), /'epochs' must be a positive integer/);
    assert.throws(() => layers.gru({ units: 0 }), /'units' must be a positive integer/);
    assert.throws(() => layers.dense({ units: 2, activation: 'mish' as 'relu' }), /unknown activation/);
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    assert.throws(() => m.evaluate(x, { data: Int32Array.from([0, 1, 2, 0, 1, 0, 1, 0]), shape: [8] }), /class index 2 at sample 2; the model has 2 classes/);
    const emb = sequential([layers.embedding({ inputDim: 3, outputDim: 2, inputShape: [2] })]);
    assert.throws(() => emb.predict({ data: [0.5, 1], shape: [1, 2] }), /integer indices here, got 0.5 at sample 0, feature index \[0\]/);
    emb.dispose();
    m.dispose();
  });
});

describe('stateful models', () => {
  it('refuse, before anything runs, batches that would change size midway (a short last batch, other validation batches)', async () => {
    setSeed(10);
    const m = sequential([layers.gru({ units: 3, stateful: true, inputShape: [4, 2] }), layers.dense({ units: 1 })]);
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const x = (n: number) => data(n, [4, 2]);
    const y = (n: number) => data(n, [1]);
    const w0 = m.getWeights();
    try {
      await assert.rejects(m.fit(x(10), y(10), { batchSize: 4, verbose: 0, shuffle: false }), /fit: layer 'gru\w*' is stateful, so all its batches need one size, but the 10 samples of x in batches of 4 leave a last batch of 2/);
      await assert.rejects(m.fit(x(12), y(12), { batchSize: 4, validationSplit: 1 / 3, validationBatchSize: 2, verbose: 0 }), /the batches of the validation data \(2 samples\) would continue the states of x's batches \(4 samples\)/);
      m.getWeights().forEach((w, i) => assert.deepEqual(w, w0[i], `weight ${i} untouched`));
      assert.throws(() => m.evaluate(x(10), y(10), { batchSize: 4 }), /evaluate: layer 'gru\w*' is stateful/);
      assert.throws(() => m.predict(x(6), { batchSize: 4 }), /predict: layer 'gru\w*' is stateful, so all its batches need one size, but the 6 samples of x in batches of 4 leave a last batch of 2/);
      // What runs in batches of one size still does: one batch smaller than batchSize, or whole batches.
      const h = await m.fit(x(12), y(12), { batchSize: 4, validationSplit: 1 / 3, verbose: 0, shuffle: false });
      assert.equal(h.history.val_loss!.length, 1);
      m.resetStates();
      m.predict(x(6), { batchSize: 32 }).dispose();
    } finally {
      m.dispose();
    }
    const i = input({ shape: [4, 2] });
    const f = model({ inputs: i, outputs: layers.dense({ units: 1 }).apply(layers.lstm({ units: 2, stateful: true }).apply(i)) as SymbolicTensor });
    f.compile({ optimizer: 'sgd', loss: 'mse' });
    try {
      await assert.rejects(f.fit(x(10), y(10), { batchSize: 4, verbose: 0 }), /fit: layer 'lstm\w*' is stateful, so all its batches need one size/);
      assert.throws(() => f.predict(x(5), { batchSize: 2 }), /predict: layer 'lstm\w*' is stateful/);
    } finally {
      f.dispose();
    }
  });
});

describe('trainOnBatch with tensors', () => {
  it('takes a float32 tensor as its batch (no host copy) and trains as from host data; NaN in it is reported where it is', () => {
    const build = () => {
      setSeed(8);
      const m = sequential([layers.gru({ units: 4, inputShape: [5, 3] }), layers.dense({ units: 2 })]);
      m.compile({ optimizer: 'adam', loss: 'mse' });
      return m;
    };
    const xd = data(6, [5, 3]);
    const yd = data(6, [2]);
    const before = memory().numTensors;
    const fromHost = build();
    const fromTensor = build();
    const x = tensor(xd.data, xd.shape);
    const y = tensor(yd.data, yd.shape);
    try {
      for (let step = 0; step < 3; step++) assert.equal(fromTensor.trainOnBatch(x, y), fromHost.trainOnBatch(xd, yd), `loss at step ${step}`);
      fromHost.getWeights().forEach((w, i) => assert.deepEqual(fromTensor.getWeights()[i], w, `weight ${i}`));
      assert.deepEqual(x.dataSync(), xd.data, 'x is left as it was');
      const bad = tensor(xd.data.map((v, i) => (i === 2 * 15 + 4 ? NaN : v)), xd.shape);
      assert.throws(() => fromTensor.trainOnBatch(bad, y), /trainOnBatch: x contains NaN at sample 2, feature index \[1, 1\]/);
      bad.dispose();
    } finally {
      for (const t of [x, y]) t.dispose();
      fromHost.dispose();
      fromTensor.dispose();
    }
    assert.equal(memory().numTensors, before, 'no tensor left');
  });
});

describe('layers on their own', () => {
  it('gru.call returns states with returnState and takes an initial state; masking equals unpadded runs', () => {
    const before = memory().numTensors;
    tidy(() => {
      setSeed(8);
      const g = layers.gru({ units: 3, returnState: true, bidirectional: true });
      const x = tensor(Float32Array.from({ length: 2 * 4 * 2 }, (_, i) => Math.sin(i)), [2, 4, 2]);
      const [out, hf, hb] = g.call(x) as Tensor[];
      assert.deepEqual(out!.shape, [2, 6]);
      assert.deepEqual(hf!.shape, [2, 3]);
      assert.deepEqual(out!.dataSync().slice(0, 3), hf!.dataSync().slice(0, 3));
      const [out2] = g.call(x, { initialState: [hf!, hb!] }) as Tensor[];
      assert.notDeepEqual(out2!.dataSync(), out!.dataSync());
      // A right-padded sample under masking gives the same result as the sample alone.
      const m = sequential([layers.masking({ inputShape: [4, 2] }), layers.gru({ units: 3 })]);
      const padded = Float32Array.from([0.5, -1, 0.25, 0.75, 0, 0, 0, 0]);
      const a = m.predict({ data: padded, shape: [1, 4, 2] }).dataSync();
      const short = sequential([layers.gru({ units: 3, inputShape: [2, 2] })]);
      short.setWeights(m.getWeights());
      const b = short.predict({ data: padded.slice(0, 4), shape: [1, 2, 2] }).dataSync();
      for (let i = 0; i < 3; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-6);
      m.dispose();
      short.dispose();
      g.dispose();
    });
    assert.equal(memory().numTensors, before);
  });

  it('padded timesteps do not count in the loss or metrics (Keras masking semantics)', () => {
    setSeed(9);
    const m = sequential([layers.masking({ inputShape: [3, 1] }), layers.gru({ units: 2, returnSequences: true }), layers.timeDistributed({ layer: layers.dense({ units: 1 }) })]);
    m.compile({ optimizer: 'sgd', loss: 'mse', metrics: ['mae'] });
    const x = { data: Float32Array.from([0.5, 0.2, 0, 1, -1, 0.3]), shape: [2, 3, 1] };
    const y = { data: Float32Array.from([1, 2, 100, 0.5, 0.25, 0.75]), shape: [2, 3, 1] };
    const p = m.predict(x);
    const pd = p.dataSync();
    p.dispose();
    const valid = [0, 1, 3, 4, 5];
    const mse = valid.reduce((a, i) => a + (pd[i]! - y.data[i]!) ** 2, 0) / valid.length;
    const mae = valid.reduce((a, i) => a + Math.abs(pd[i]! - y.data[i]!), 0) / valid.length;
    const ev = m.evaluate(x, y);
    assert.ok(Math.abs(ev.loss! - mse) < 1e-5 * mse, `${ev.loss} vs ${mse}`);
    assert.ok(Math.abs(ev.mae! - mae) < 1e-5 * mae);
    gradCheck(m, x, y);
    m.dispose();
  });

  it('stateful GRU trains across batches (truncated backpropagation) without leaks', async () => {
    const before = memory().numTensors;
    const m = sequential([layers.gru({ units: 3, stateful: true, inputShape: [4, 2] }), layers.dense({ units: 1 })]);
    m.compile({ optimizer: 'adam', loss: 'mse' });
    const x = { data: Float32Array.from({ length: 8 * 8 }, (_, i) => Math.sin(i)), shape: [8, 4, 2] };
    const y = { data: Float32Array.from({ length: 8 }, (_, i) => Math.cos(i)), shape: [8, 1] };
    const h = await m.fit(x, y, { epochs: 3, batchSize: 4, shuffle: false, verbose: 0 });
    assert.ok(h.history.loss!.every(Number.isFinite));
    assert.throws(() => m.predict({ data: x.data.slice(0, 24), shape: [3, 4, 2] }), /stateful layer got a batch of 3 but its state is for batches of 4/);
    m.resetStates();
    m.dispose();
    assert.equal(memory().numTensors, before);
    assert.equal(memory().numResources, 0);
  });

  it('progress output: a bar on a TTY, plain lines otherwise', async () => {
    const chunks: string[] = [];
    const stream = { isTTY: false, write: (s: string) => chunks.push(s) } as unknown as NodeJS.WriteStream;
    const m = sequential([layers.dense({ units: 1, inputShape: [2] })]);
    m.compile({ optimizer: 'sgd', loss: 'mse', metrics: ['mae'] });
    const x = { data: Float32Array.from({ length: 20 }, (_, i) => i / 20), shape: [10, 2] };
    const y = { data: Float32Array.from({ length: 10 }, (_, i) => i / 10), shape: [10, 1] };
    await m.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0, callbacks: [new callbacks.ProgressBar(stream, false)] });
    assert.match(chunks.join(''), /^Epoch 1\/2\n3\/3 \[=+\] - \d+s \d+ms\/step - loss: \d\.\d{4} - mae: \d\.\d{4}\nEpoch 2\/2\n/);
    chunks.length = 0;
    await m.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0, callbacks: [new callbacks.ProgressBar(stream, true)] });
    assert.match(chunks.join(''), /\r3\/3 \[=+\] - ETA: 0s - loss: /);
    m.dispose();
  });
});

// The model layer on every device this machine has (test/support/devices.ts): the same seeded run
// on `device` and on the CPU must agree (on the CPU itself this checks determinism), everything
// must live on the model's device, and a step may read back only its loss and metric values.
for (const device of testDevices) {
  describe(`sequential models on ${device}`, function () {
    this.timeout(120000);

    // Token sequences right-padded with 0 (ragged lengths, one empty), sparse labels.
    const n = 24;
    const tokens = { data: Int32Array.from({ length: n * 6 }, (_, i) => ((i % 6) < 6 - ((i >> 3) % 7) ? 1 + ((i * 7) % 11) : 0)), shape: [n, 6] };
    const labels = { data: Int32Array.from({ length: n }, (_, i) => (i * 5) % 3), shape: [n] };
    // Float sequences padded with 0 at the end (masking), per-step targets.
    let state = 5;
    const uniform = () => ((state = (state * 1103515245 + 12345) % 2 ** 31), (state / 2 ** 31) * 2 - 1);
    const seq = { data: Float32Array.from({ length: n * 5 * 2 }, uniform), shape: [n, 5, 2] };
    for (let b = 0; b < n; b++) seq.data.fill(0, (b * 5 + 5 - (b % 3)) * 2, (b + 1) * 5 * 2);
    const seqY = { data: Float32Array.from({ length: n * 5 }, uniform), shape: [n, 5, 1] };

    function tokenModel(): Sequential {
      return sequential([
        layers.embedding({ inputDim: 12, outputDim: 4, maskZero: true, inputShape: [6] }),
        layers.gru({ units: 5, bidirectional: true, returnSequences: true }),
        layers.gru({ units: 4, goBackwards: true }),
        layers.dropout({ rate: 0.25 }),
        layers.dense({ units: 3, activation: 'softmax' }),
      ]);
    }
    function sequenceModel(): Sequential {
      return sequential([
        layers.masking({ inputShape: [5, 2] }),
        layers.gru({ units: 4, returnSequences: true, initializer: 'pytorch' }),
        layers.timeDistributed({ layer: layers.dense({ units: 1, activation: 'tanh' }) }),
      ]);
    }

    interface RunResult {
      history: Record<string, number[]>;
      evaluation: Record<string, number>;
      prediction: Float32Array;
      weights: Float32Array[];
    }

    /** Builds, trains, evaluates and predicts with the current device set to `on`. */
    async function run(on: typeof device, which: 'tokens' | 'sequences'): Promise<RunResult> {
      const previous = backendInfo().requested;
      setDevice(on);
      try {
        setSeed(17);
        const m = which === 'tokens' ? tokenModel() : sequenceModel();
        try {
          if (which === 'tokens') {
            m.compile({ optimizer: optimizers.sgd({ learningRate: 0.1, momentum: 0.9, clipnorm: 1 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
          } else {
            m.compile({ optimizer: optimizers.sgd({ learningRate: 0.05, nesterov: true, momentum: 0.5, globalClipnorm: 2, clipvalue: 0.5 }), loss: 'mse', metrics: ['mae'] });
          }
          for (const p of m.params) assert.equal(p.value.device, on, `${p.name} is on ${p.value.device}`);
          const [x, y] = which === 'tokens' ? [tokens, labels] : [seq, seqY];
          const h = await m.fit(x, y, { epochs: 2, batchSize: 8, validationSplit: 0.25, verbose: 0 });
          for (const p of m.params) assert.equal(m.optimizer!.getState([p]).slots[0]![0]?.device ?? on, on, `optimizer slot of ${p.name}`);
          const evaluation = m.evaluate(x, y, { batchSize: 5 });
          const p = m.predict(x, { batchSize: 7 });
          assert.equal(p.device, on);
          const prediction = p.dataSync() as Float32Array;
          p.dispose();
          return { history: h.history, evaluation, prediction, weights: m.getWeights() };
        } finally {
          m.dispose();
        }
      } finally {
        setDevice(previous);
      }
    }

    /** Relative tolerance (absolute below 0.1); `key` ending in accuracy: within a third (a near tie may flip). */
    function near(a: ArrayLike<number>, b: ArrayLike<number>, what: string, key = ''): void {
      assert.equal(a.length, b.length, `${what}: length`);
      for (let i = 0; i < a.length; i++) {
        const allowed = key.endsWith('accuracy') ? 0.34 : 1e-3 * Math.max(0.1, Math.abs(b[i]!));
        assert.ok(Math.abs(a[i]! - b[i]!) <= allowed, `${what}[${i}]: ${device} ${a[i]} vs cpu ${b[i]}`);
      }
    }

    for (const which of ['tokens', 'sequences'] as const) {
      const what = which === 'tokens' ? 'embedding(maskZero) → bidirectional GRU → GRU(goBackwards) → dropout → dense(softmax), sparse CCE' : 'masking → GRU(sequences) → timeDistributed(dense), MSE with clipping';
      it(`fit, evaluate and predict match the CPU: ${what}`, async () => {
        const before = memory();
        const got = await run(device, which);
        const ref = await run('cpu', which);
        const after = memory();
        assert.deepEqual(after.devices, before.devices, 'device memory leaked');
        assert.deepEqual(Object.keys(got.history).sort(), Object.keys(ref.history).sort());
        for (const [k, values] of Object.entries(ref.history)) near(got.history[k]!, values, `history.${k}`, k);
        for (const [k, v] of Object.entries(ref.evaluation)) near([got.evaluation[k]!], [v], `evaluate.${k}`, k);
        near(got.prediction, ref.prediction, 'predict');
        ref.weights.forEach((w, i) => near(got.weights[i]!, w, `weights[${i}]`));
      });
    }

    if (device !== 'cpu') {
      it(`batches go to the model's device whatever the current device; a model built across devices is refused clearly`, async () => {
        const previous = backendInfo().requested;
        const x = { data: Float32Array.from({ length: 8 * 3 * 2 }, (_, i) => Math.sin(i)), shape: [8, 3, 2] };
        const y = { data: Float32Array.from({ length: 8 }, (_, i) => Math.cos(i)), shape: [8, 1] };
        setDevice('cpu');
        const onCpu = sequential([layers.gru({ units: 3, inputShape: [3, 2] }), layers.dense({ units: 1 })]);
        const mixed = sequential([layers.gru({ units: 3, inputShape: [3, 2] })]);
        try {
          setDevice(device);
          mixed.add(layers.dense({ units: 1 }));
          onCpu.compile({ optimizer: 'sgd', loss: 'mse' });
          mixed.compile({ optimizer: 'sgd', loss: 'mse' });
          const h = await onCpu.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
          assert.ok(Number.isFinite(h.history.loss![0]!));
          const p = onCpu.predict(x);
          assert.equal(p.device, 'cpu');
          p.dispose();
          await assert.rejects(mixed.fit(x, y, { verbose: 0 }), /model: its parameters are on two devices \(.* on cpu, .* on cuda\)/);
        } finally {
          onCpu.dispose();
          mixed.dispose();
          setDevice(previous);
        }
      });
    }

    it('reads back only the loss and metric values: once per fit step, once per evaluate, never in predict', async () => {
      const previous = backendInfo().requested;
      setDevice(device);
      const reads = { read: 0, readAsync: 0 };
      const original = { read: native.read, readAsync: native.readAsync };
      const m = tokenModel();
      try {
        m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
        native.read = (h) => ((reads.read += 1), original.read(h));
        native.readAsync = (h) => ((reads.readAsync += 1), original.readAsync(h));
        await m.fit(tokens, labels, { epochs: 2, batchSize: 8, verbose: 0 });
        assert.deepEqual(reads, { read: 0, readAsync: 2 * 3 }, 'fit: one asynchronous read per step');
        m.evaluate(tokens, labels, { batchSize: 5 });
        assert.deepEqual(reads, { read: 1, readAsync: 6 }, 'evaluate: one read for all batches');
        m.predict(tokens, { batchSize: 7 }).dispose();
        assert.deepEqual(reads, { read: 1, readAsync: 6 }, 'predict: no read');
      } finally {
        native.read = original.read;
        native.readAsync = original.readAsync;
        m.dispose();
        setDevice(previous);
      }
    });
  });
}
