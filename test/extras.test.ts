// Issue #13's extras: learningRateScheduler, predictAsync, and the forecasting/classification
// losses and metrics, each checked against a float64 re-implementation.
import assert from 'node:assert/strict';
import { callbacks, input, layers, loadModel, losses, memory, model, optimizers, sequential, setSeed, type Sequential, type Tensor } from '../lib';
import { tempDir } from './support/temp-dir';

let s = 7;
const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31), s / 2 ** 31);
function data(n: number, shape: number[], f: () => number = () => rnd() * 2 - 1) {
  const size = n * shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: size }, f), shape: [n, ...shape] };
}
function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

describe('extras (issue #13)', function () {
  this.timeout(60000);
  let baseline: number;
  beforeEach(() => {
    baseline = memory().numTensors;
  });
  afterEach(() => {
    assert.equal(memory().numTensors, baseline, 'tensors leaked');
  });

  it('learningRateScheduler sets the rate each epoch: SGD updates are lr·grad (float64 reference)', async () => {
    setSeed(3);
    const n = 16;
    const F = 3;
    const x = data(n, [F]);
    const y = data(n, [1]);
    const m = sequential([layers.dense({ units: 1, inputShape: [F] })]);
    m.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'meanSquaredError' });
    const seen: Array<[number, number]> = [];
    const schedule = (epoch: number, lr: number) => {
      seen.push([epoch, lr]);
      return epoch === 0 ? lr : lr * 0.5 + 0.01 * epoch;
    };
    const weights: Float32Array[][] = [m.getWeights()];
    const h = await m.fit(x, y, {
      epochs: 4, batchSize: n, verbose: 0, shuffle: false,
      callbacks: [callbacks.learningRateScheduler(schedule), { onEpochEnd: () => { weights.push(m.getWeights()); } }],
    });
    // Keras passes the current rate in: each call sees the previous call's result.
    const rates = [0.1];
    for (let e = 1; e < 4; e++) rates.push(rates[e - 1]! * 0.5 + 0.01 * e);
    assert.deepEqual(seen.map(([e]) => e), [0, 1, 2, 3]);
    seen.forEach(([, lr], e) => close(lr, e === 0 ? 0.1 : rates[e - 1]!, 1e-7, `schedule input at epoch ${e}`));
    h.history.learning_rate!.forEach((lr, e) => close(lr, rates[e]!, 1e-7, `logged learning_rate ${e}`));
    for (let e = 0; e < 4; e++) {
      const [k, b] = weights[e]!.map((w) => Array.from(w, Number));
      const [k1, b1] = weights[e + 1]!;
      // MSE gradient in float64: g_i = 2 (x_i·k + b − y_i) / n; dk = Xᵀg, db = Σg.
      const dk = new Array<number>(F).fill(0);
      let db = 0;
      for (let i = 0; i < n; i++) {
        let p = b![0]!;
        for (let j = 0; j < F; j++) p += x.data[i * F + j]! * k![j]!;
        const g = (2 * (p - y.data[i]!)) / n;
        for (let j = 0; j < F; j++) dk[j]! += g * x.data[i * F + j]!;
        db += g;
      }
      for (let j = 0; j < F; j++) close(k1![j]!, k![j]! - rates[e]! * dk[j]!, 1e-5, `kernel[${j}] after epoch ${e}`);
      close(b1![0]!, b![0]! - rates[e]! * db, 1e-5, `bias after epoch ${e}`);
    }
    await assert.rejects(m.fit(x, y, { epochs: 1, verbose: 0, callbacks: [callbacks.learningRateScheduler(() => -1)] }), /learningRateScheduler: the schedule must return a positive finite number, got number -1 at epoch 0/);
    m.dispose();
    assert.throws(() => callbacks.learningRateScheduler(0.1 as never), /learningRateScheduler: argument 'schedule' must be a function/);
    assert.throws(() => callbacks.learningRateScheduler(() => 1, { verbose: 2 } as never), /learningRateScheduler: 'verbose' must be 0 or 1/);
  });

  it('predictAsync yields to the event loop between batches and gives predict\'s tensor bitwise (both model kinds)', async () => {
    setSeed(4);
    const T = 6;
    const F = 3;
    const x = data(600, [T, F]);
    const seq = sequential([layers.gru({ units: 8, inputShape: [T, F] }), layers.dense({ units: 2 })]);
    const i = input({ shape: [T, F] });
    const h = layers.gru({ units: 5 }).apply(i) as never;
    const fm = model({ inputs: i, outputs: [layers.dense({ units: 1 }).apply(h) as never, layers.dense({ units: 3, activation: 'softmax' }).apply(h) as never] });
    const bits = (t: Tensor) => Buffer.from((t.dataSync() as Float32Array).buffer);
    // A timer due now fires only if the prediction gives the event loop a turn before it ends.
    const timerDuring = async (run: () => Tensor | Tensor[] | Promise<Tensor | Tensor[]>) => {
      let finished = false;
      let firedBeforeEnd = false;
      setTimeout(() => { firedBeforeEnd = !finished; }, 0);
      const started = Date.now();
      while (Date.now() - started < 3); // the timer is due from here on
      const out = await run();
      finished = true;
      return { out: ([] as Tensor[]).concat(out), firedBeforeEnd };
    };
    for (const [name, m] of [['sequential', seq], ['functional', fm]] as const) {
      const sync = await timerDuring(() => (m as typeof fm).predict(x, { batchSize: 8 }));
      const async = await timerDuring(() => (m as typeof fm).predictAsync(x, { batchSize: 8 }));
      assert.equal(sync.firedBeforeEnd, false, `${name}: predict blocks the event loop (the check can fail)`);
      assert.equal(async.firedBeforeEnd, true, `${name}: the timer did not fire during predictAsync`);
      assert.equal(async.out.length, sync.out.length);
      sync.out.forEach((t, k) => {
        assert.deepEqual(async.out[k]!.shape, t.shape);
        assert.ok(bits(async.out[k]!).equals(bits(t)), `${name}: output ${k} differs from predict`);
      });
      for (const t of [...sync.out, ...async.out]) t.dispose();
    }
    await assert.rejects(seq.predictAsync(x, { batchSize: 0 }), /predictAsync: 'batchSize' must be a positive integer/);
    await assert.rejects(seq.predictAsync(x, { batchsize: 8 } as never), /predictAsync: unknown option 'batchsize' \(did you mean 'batchSize'\?\)/);
    await assert.rejects(fm.predictAsync(42 as never), /predictAsync/);
    // Disposed while predicting: the next batch fails and the partial output is freed.
    const pending = seq.predictAsync(x, { batchSize: 8 });
    seq.dispose();
    await assert.rejects(pending, /predictAsync called after dispose|disposed/);
    fm.dispose();
  });

  // Per-element loss l(p, y) and dl/dp in float64, after Keras' formulas.
  const huber64 = (delta: number) => ({
    l: (p: number, y: number) => (Math.abs(p - y) <= delta ? 0.5 * (p - y) ** 2 : delta * Math.abs(p - y) - 0.5 * delta * delta),
    d: (p: number, y: number) => Math.min(delta, Math.max(-delta, p - y)),
  });
  const mape64 = {
    l: (p: number, y: number) => (100 * Math.abs(y - p)) / Math.max(Math.abs(y), 1e-7),
    d: (p: number, y: number) => (100 * Math.sign(p - y)) / Math.max(Math.abs(y), 1e-7),
  };
  for (const [name, loss, ref] of [
    ['huber (delta 0.5)', losses.huber({ delta: 0.5 }), huber64(0.5)],
    ['huber (compile object, delta 2)', { name: 'huber', delta: 2 }, huber64(2)],
    ['mape', 'mape', mape64],
  ] as const) {
    it(`${name}: evaluate and one SGD step match a float64 reference (sample weights)`, () => {
      setSeed(5);
      const n = 12;
      const F = 3;
      const U = 2;
      const x = data(n, [F]);
      const y = data(n, [U], () => (rnd() * 2 - 1) * 2);
      const sw = Float32Array.from({ length: n }, () => 0.5 + rnd());
      const m = sequential([layers.dense({ units: U, inputShape: [F] })]);
      const lr = 0.01;
      m.compile({ optimizer: optimizers.sgd({ learningRate: lr }), loss: loss as never, metrics: ['mape'] });
      const [k, b] = m.getWeights().map((w) => Array.from(w, Number));
      const pred = (i: number, u: number) => { let p = b![u]!; for (let j = 0; j < F; j++) p += x.data[i * F + j]! * k![j * U + u]!; return p; };
      // Keras' reduction: Σ_i w_i·mean_u l / n; gradient w_i·l'/(n·U).
      let loss64 = 0;
      let mape = 0;
      const dk = new Array<number>(F * U).fill(0);
      const db = new Array<number>(U).fill(0);
      for (let i = 0; i < n; i++) {
        for (let u = 0; u < U; u++) {
          const p = pred(i, u);
          const t = y.data[i * U + u]!;
          loss64 += (sw[i]! * ref.l(p, t)) / (n * U);
          mape += mape64.l(p, t) / (n * U);
          const g = (sw[i]! * ref.d(p, t)) / (n * U);
          for (let j = 0; j < F; j++) dk[j * U + u]! += g * x.data[i * F + j]!;
          db[u]! += g;
        }
      }
      const ev = m.evaluate(x, y, { sampleWeight: sw });
      close(ev.loss!, loss64, 1e-5, `${name} loss`);
      close(ev.mape!, mape, 1e-5, 'mape metric');
      m.trainOnBatch(x, y, { sampleWeight: sw });
      const [k1, b1] = m.getWeights();
      for (let j = 0; j < F * U; j++) close(k1![j]!, k![j]! - lr * dk[j]!, 1e-5, `kernel[${j}]`);
      for (let u = 0; u < U; u++) close(b1![u]!, b![u]! - lr * db[u]!, 1e-5, `bias[${u}]`);
      m.dispose();
    });
  }

  it('a saved model keeps huber\'s delta and the new metrics: the loaded one evaluates the same', async () => {
    setSeed(6);
    const x = data(20, [2]);
    const y = data(20, [1], () => (rnd() > 0.5 ? 1 : 0));
    const m = sequential([layers.dense({ units: 1, inputShape: [2] })]);
    m.compile({ optimizer: 'adam', loss: losses.huber({ delta: 0.3 }), metrics: ['rmse', 'mape', 'precision', 'recall', 'auc'] });
    const dir = `${tempDir('cgru-extras-')}/m`;
    await m.save(dir);
    const back = loadModel<Sequential>(dir);
    assert.deepEqual(back.trainingConfig!.loss, { name: 'huber', fromLogits: false, delta: 0.3 });
    assert.deepEqual(back.evaluate(x, y, { batchSize: 6 }), m.evaluate(x, y, { batchSize: 6 }));
    m.dispose();
    back.dispose();
  });

  it('mape clips |y| at Keras\' epsilon 1e-7; huber options are checked', () => {
    const m = sequential([layers.dense({ units: 1, inputShape: [1], kernelInitializer: 'ones' })]);
    m.compile({ optimizer: 'sgd', loss: 'mse', metrics: ['mape'] });
    const ev = m.evaluate({ data: Float32Array.from([2, 1]), shape: [2, 1] }, { data: Float32Array.from([0, 4]), shape: [2, 1] });
    close(ev.mape!, (100 * 2 / 1e-7 + 100 * 3 / 4) / 2, 1e-5, 'mape with a zero target');
    m.dispose();
    assert.throws(() => losses.huber({ delta: 0 }), /losses\.huber: 'delta' must be a positive number, got number 0/);
    assert.throws(() => losses.huber({ fromLogits: true } as never), /losses\.huber: unknown option 'fromLogits'/);
  });

  // Keras' stateful metrics in float64 from predictions and targets (thresholds: pred > t).
  function keras64(p: ArrayLike<number>, y: ArrayLike<number>) {
    const n = p.length;
    const counts = (t: number) => {
      let tp = 0, fp = 0, pos = 0;
      for (let i = 0; i < n; i++) {
        const yes = y[i]! > 0.5;
        if (yes) pos++;
        if (p[i]! > t) yes ? tp++ : fp++;
      }
      return { tp, fp, pos, neg: n - pos };
    };
    const half = counts(0.5);
    const ts = [-1e-7, ...Array.from({ length: 198 }, (_, i) => (i + 1) / 199), 1 + 1e-7];
    const pts = ts.map((t) => { const c = counts(t); return { r: c.pos ? c.tp / c.pos : 0, f: c.neg ? c.fp / c.neg : 0 }; });
    let auc = 0;
    for (let j = 0; j + 1 < pts.length; j++) auc += (pts[j]!.f - pts[j + 1]!.f) * (pts[j]!.r + pts[j + 1]!.r) / 2;
    let se = 0;
    for (let i = 0; i < n; i++) se += (p[i]! - y[i]!) ** 2;
    return { precision: half.tp + half.fp ? half.tp / (half.tp + half.fp) : 0, recall: half.pos ? half.tp / half.pos : 0, auc, rmse: Math.sqrt(se / n) };
  }
  const METRICS = ['precision', 'recall', 'auc', 'rmse'] as const;

  it('rmse, precision, recall and auc are over the whole evaluation (not per-batch means), as Keras computes them', async () => {
    setSeed(8);
    const n = 50;
    const F = 4;
    const x = data(n, [F]);
    const y = { data: Float32Array.from({ length: n }, (_, i) => (x.data[i * F]! + 0.7 * x.data[i * F + 1]! + 0.6 * (rnd() - 0.5) > 0 ? 1 : 0)), shape: [n, 1] };
    const m = sequential([layers.dense({ units: 1, activation: 'sigmoid', inputShape: [F] })]);
    m.compile({ optimizer: 'sgd', loss: 'binaryCrossentropy', metrics: [...METRICS] }); // the fused (logits) path
    const p = m.predict(x);
    const probs = p.dataSync() as Float32Array;
    p.dispose();
    const ref = keras64(probs, y.data);
    const ev = m.evaluate(x, y, { batchSize: 7 });
    for (const k of METRICS) close(ev[k]!, ref[k], 1e-5, k);
    // evaluateDataset (the same batches as host arrays) combines the statistics the same way.
    const slices = function* () {
      for (let s0 = 0; s0 < n; s0 += 7) {
        const e = Math.min(n, s0 + 7);
        yield { xs: { data: x.data.slice(s0 * F, e * F), shape: [e - s0, F] }, ys: { data: y.data.slice(s0, e), shape: [e - s0, 1] } };
      }
    };
    const evd = await m.evaluateDataset(slices);
    for (const k of METRICS) close(evd[k]!, ref[k], 1e-5, `evaluateDataset ${k}`);
    assert.ok(ref.auc > 0.01 && ref.auc < 0.99 && Math.abs(ref.auc - 0.5) > 0.05 && ref.precision > 0 && ref.precision < 1, `a non-trivial case: ${JSON.stringify(ref)}`);
    // The mean of per-batch precisions is something else: the check tells the two apart.
    let batchMean = 0;
    for (let s0 = 0; s0 < n; s0 += 7) batchMean += keras64(probs.subarray(s0, s0 + 7), y.data.subarray(s0, s0 + 7)).precision * Math.min(7, n - s0) / n;
    assert.ok(Math.abs(batchMean - ref.precision) > 1e-3, `per-batch mean ${batchMean} vs ${ref.precision}`);
    m.dispose();
  });

  it('the epoch-level metrics in fit logs and on a functional model\'s outputs match the float64 reference', async () => {
    setSeed(9);
    const n = 40;
    const F = 3;
    const x = data(n, [F]);
    const y = { data: Float32Array.from({ length: n }, (_, i) => (x.data[i * F]! - x.data[i * F + 2]! > 0.1 ? 1 : 0)), shape: [n, 1] };
    const m = sequential([layers.dense({ units: 1, activation: 'sigmoid', inputShape: [F] })]);
    m.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'binaryCrossentropy', metrics: [...METRICS] });
    const before: Array<ReturnType<typeof keras64>> = [];
    const after: Array<ReturnType<typeof keras64>> = [];
    const refOf = () => { const p = m.predict(x); const r = keras64(p.dataSync() as Float32Array, y.data); p.dispose(); return r; };
    // One batch per epoch: the training logs are the metrics at the epoch's starting weights.
    const h = await m.fit(x, y, { epochs: 2, batchSize: n, verbose: 0, validationData: [x, y], callbacks: [{ onEpochBegin: () => { before.push(refOf()); }, onEpochEnd: () => { after.push(refOf()); } }] });
    for (let e = 0; e < 2; e++) {
      for (const k of METRICS) {
        close(h.history[k]![e]!, before[e]![k], 1e-5, `${k} epoch ${e}`);
        close(h.history[`val_${k}`]![e]!, after[e]![k], 1e-5, `val_${k} epoch ${e}`);
      }
    }
    m.dispose();

    const i = input({ shape: [F] });
    const cls = layers.dense({ units: 1, activation: 'sigmoid' });
    const reg = layers.dense({ units: 2 });
    const fm = model({ inputs: i, outputs: [cls.apply(i) as never, reg.apply(i) as never] });
    const yr = data(n, [2]);
    fm.compile({ optimizer: 'sgd', loss: ['binaryCrossentropy', 'mse'], metrics: [['auc', 'precision'], ['rmse']] });
    const ev = fm.evaluate(x, [y, yr], { batchSize: 6 });
    const [pc, pr] = fm.predict(x) as Tensor[];
    const rc = keras64(pc!.dataSync() as Float32Array, y.data);
    const rr = keras64(pr!.dataSync() as Float32Array, yr.data);
    pc!.dispose();
    pr!.dispose();
    const names = Object.keys(ev);
    const key = (suffix: string) => names.find((k) => k.endsWith(suffix))!;
    close(ev[key('_auc')]!, rc.auc, 1e-5, 'output 1 auc');
    close(ev[key('_precision')]!, rc.precision, 1e-5, 'output 1 precision');
    close(ev[key('_rmse')]!, rr.rmse, 1e-5, 'output 2 rmse');
    fm.dispose();
    const sparse = sequential([layers.dense({ units: 3, inputShape: [F] })]);
    assert.throws(() => sparse.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', metrics: ['auc'] }), /compile: metric 'auc' needs binary \(or one-hot\) targets/);
    sparse.dispose();
  });

  it('masked sequences: huber and the epoch-level metrics count only the valid timesteps', () => {
    setSeed(10);
    const n = 6;
    const T = 5;
    const lengths = [5, 3, 1, 4, 2, 5];
    const ids = new Int32Array(n * T);
    lengths.forEach((len, i) => { for (let t = 0; t < len; t++) ids[i * T + t] = 1 + Math.floor(rnd() * 6); });
    const y = Float32Array.from({ length: n * T }, () => (rnd() > 0.5 ? 1 : 0));
    const m = sequential([
      layers.embedding({ inputDim: 8, outputDim: 3, maskZero: true, inputShape: [T] }),
      layers.gru({ units: 4, returnSequences: true }),
      layers.timeDistributed({ layer: layers.dense({ units: 1, activation: 'sigmoid' }) }),
    ]);
    m.compile({ optimizer: 'sgd', loss: losses.huber({ delta: 0.3 }), metrics: [...METRICS] });
    const x = { data: ids, shape: [n, T] };
    const yt = { data: y, shape: [n, T, 1] };
    const p = m.predict(x);
    const all = p.dataSync() as Float32Array;
    p.dispose();
    const pv: number[] = [];
    const yv: number[] = [];
    lengths.forEach((len, i) => { for (let t = 0; t < len; t++) { pv.push(all[i * T + t]!); yv.push(y[i * T + t]!); } });
    const h = huber64(0.3);
    const ref = { ...keras64(pv, yv), loss: pv.reduce((a, v, j) => a + h.l(v, yv[j]!), 0) / pv.length };
    const ev = m.evaluate(x, yt, { batchSize: n });
    for (const k of ['loss', ...METRICS] as const) close(ev[k]!, ref[k], 1e-5, `masked ${k}`);
    assert.ok(Math.abs(keras64(all, y).auc - ref.auc) > 1e-3, `the padded steps would change the result (the check can fail): ${JSON.stringify([keras64(all, y), ref])}`);
    m.dispose();
  });
});
