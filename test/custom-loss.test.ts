// Custom losses and metrics written with the tensor ops (docs/models.md, "Custom losses and
// metrics"): trained through the op-level tape, they match the built-in fused kernels over
// several epochs (sample weights and timestep masks included); custom metrics match float64
// references of Keras' batch-size-weighted averaging; bad functions fail clearly; nothing leaks.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { input, layers, loadModel, losses, memory, model, ops, optimizers, sequential, setSeed, type Model, type Sequential, type Tensor } from '../lib';
import { rand } from './io-helpers/reference';
import { disposeModelsAfterEach } from './support/models';
import { tempDir } from './support/temp-dir';

const N = 10, F = 3, U = 2;
const x = { data: rand(N * F, 31, 1.5), shape: [N, F] };
const y = { data: rand(N * U, 32, 2), shape: [N, U] };
const sw = Array.from({ length: N }, (_, i) => [0.5, 2, 0, 1, 3][i % 5]!);

// Keras' formulas, per sample (the mean over the last axis).
const customMse = (yTrue: Tensor, yPred: Tensor) => ops.mean(ops.square(ops.sub(yPred, yTrue)), -1);
function customHuber(yTrue: Tensor, yPred: Tensor): Tensor {
  const a = ops.abs(ops.sub(yPred, yTrue));
  const q = ops.minimum(a, 1);
  return ops.mean(ops.add(ops.mul(ops.square(q), 0.5), ops.sub(a, q)), -1);
}

describe('custom losses and metrics (functions of tensors)', () => {
  const made = disposeModelsAfterEach<Sequential | Model>();

  function dense(loss: unknown, metrics: unknown[] = [], hidden = false): Sequential {
    setSeed(3);
    const m = sequential(hidden
      ? [layers.dense({ units: 4, activation: 'tanh', inputShape: [F] }), layers.dense({ units: U })]
      : [layers.dense({ units: U, inputShape: [F] })]);
    made.push(m);
    m.compile({ optimizer: optimizers.adam({ learningRate: 0.05 }), loss: loss as never, metrics: metrics as never });
    return m;
  }
  const closeAll = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
    assert.equal(a.length, b.length, what);
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  };
  function sameTraining(custom: Sequential | Model, builtin: Sequential | Model, fitArgs: Record<string, unknown>, data: [unknown, unknown] = [x, y]) {
    return (async () => {
      const hc = await custom.fit(data[0] as never, data[1] as never, { epochs: 4, batchSize: 4, shuffle: false, verbose: 0, ...fitArgs });
      const hb = await builtin.fit(data[0] as never, data[1] as never, { epochs: 4, batchSize: 4, shuffle: false, verbose: 0, ...fitArgs });
      closeAll(hc.history.loss!, hb.history.loss!, 1e-6, 'loss per epoch');
      custom.getWeights().forEach((w, i) => closeAll(w, builtin.getWeights()[i]!, 1e-6, `weight ${i}`));
      assert.ok(hc.history.loss![3]! < hc.history.loss![0]!, 'the custom loss trains');
    })();
  }

  it('a custom MSE trains as the built-in mse (4 epochs of Adam, with and without sampleWeight)', async () => {
    await sameTraining(dense(customMse, [], true), dense('mse', [], true), {});
    await sameTraining(dense(customMse), dense('mse'), { sampleWeight: sw });
  });

  it('the tensors a custom loss and metric make are freed after each step (memory() returns to its count)', async () => {
    const m = dense(customHuber, [customMse, { name: 'batchMean', fn: (_t: Tensor, p: Tensor) => ops.mean(p) }]);
    await m.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 }); // optimizer slots exist from here on
    const before = memory().numTensors;
    await m.fit(x, y, { epochs: 2, batchSize: 3, verbose: 0, validationData: [x, y] });
    m.trainOnBatch(x, y);
    m.evaluate(x, y, { batchSize: 4 });
    assert.equal(memory().numTensors, before);
  });

  it('a custom Huber trains as losses.huber()', async () => {
    await sameTraining(dense(customHuber, [], true), dense(losses.huber(), [], true), {});
    await sameTraining(dense(customHuber), dense(losses.huber()), { sampleWeight: sw });
  });

  it('per-timestep values on a masked sequence output: padded steps and sample weights count as for the built-in loss', async () => {
    const T = 4;
    const xs = rand(N * T * 2, 41, 1);
    for (let b = 0; b < N; b++) for (let t = 1 + (b % T); t < T; t++) xs.fill(0, (b * T + t) * 2, (b * T + t + 1) * 2); // right padding
    const ys = rand(N * T * U, 42, 1);
    const seqModel = (loss: unknown) => {
      setSeed(9);
      const m = sequential([layers.masking({ inputShape: [T, 2] }), layers.gru({ units: 3, returnSequences: true }), layers.timeDistributed({ layer: layers.dense({ units: U }) })]);
      m.compile({ optimizer: optimizers.sgd({ learningRate: 0.3 }), loss: loss as never });
      made.push(m);
      return m;
    };
    // [batch, time]: the output's shape without its last dimension.
    await sameTraining(seqModel(customMse), seqModel('mse'), { sampleWeight: sw }, [{ data: xs, shape: [N, T, 2] }, { data: ys, shape: [N, T, U] }]);
  });

  it('a scalar loss is weighted by the mean sample weight (Keras broadcasts the weights)', () => {
    const scalarMse = (yTrue: Tensor, yPred: Tensor) => ops.mean(ops.square(ops.sub(yPred, yTrue)));
    const m = dense(scalarMse);
    const p = (m.predict(x) as Tensor);
    const pred = p.dataSync();
    p.dispose();
    let se = 0;
    for (let i = 0; i < N * U; i++) se += (pred[i]! - y.data[i]!) ** 2;
    const meanW = sw.reduce((a, b) => a + b, 0) / N;
    const ev = m.evaluate(x, y, { batchSize: N, sampleWeight: sw });
    closeAll([ev.loss!], [(se / (N * U)) * meanW], 1e-6, 'weighted scalar loss');
  });

  it('custom metrics: averaged over batches weighted by batch size (float64 reference); names from the function or {name, fn}', async () => {
    // RMSE of each batch (a scalar): the batch-size weighting shows with batches of 4, 4 and 2.
    function batchRmse(yTrue: Tensor, yPred: Tensor) {
      return ops.sqrt(ops.mean(ops.square(ops.sub(yPred, yTrue))));
    }
    const absError = { name: 'absError', fn: (yTrue: Tensor, yPred: Tensor) => ops.mean(ops.abs(ops.sub(yTrue, yPred)), -1) };
    const m = dense('mse', [batchRmse, absError, 'mae']);
    const p = m.predict(x) as Tensor;
    const pred = Float64Array.from(p.dataSync());
    p.dispose();
    const batches = [[0, 4], [4, 8], [8, 10]];
    let rmse = 0, mae = 0;
    for (const [s, e] of batches) {
      let se = 0;
      for (let i = s! * U; i < e! * U; i++) {
        se += (pred[i]! - y.data[i]!) ** 2;
        mae += Math.abs(pred[i]! - y.data[i]!) / (N * U);
      }
      rmse += Math.sqrt(se / ((e! - s!) * U)) * (e! - s!) / N;
    }
    const ev = m.evaluate(x, y, { batchSize: 4 });
    assert.deepEqual(Object.keys(ev), ['loss', 'batchRmse', 'absError', 'mae']);
    closeAll([ev.batchRmse!, ev.absError!], [rmse, mae], 1e-6, 'metrics');
    closeAll([ev.absError!], [ev.mae!], 1e-6, 'absError = built-in mae');
    const h = await m.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0, validationData: [x, y] });
    assert.ok(h.history.batchRmse && h.history.val_absError, 'custom metrics are logged in fit, with val_ prefixes');
  });

  it('functional models: one custom loss for every output, or per output beside built-in ones', async () => {
    const build = (loss: unknown, metrics?: unknown) => {
      setSeed(13);
      const i = input({ shape: [F] });
      const h = layers.dense({ units: 4, activation: 'tanh', name: 'h' }).apply(i) as never;
      const a = layers.dense({ units: U, name: 'a' }).apply(h);
      const b = layers.dense({ units: 1, name: 'b' }).apply(h);
      const m = model({ inputs: i, outputs: [a as never, b as never] });
      m.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: loss as never, metrics: metrics as never });
      made.push(m);
      return m;
    };
    const yb = { data: rand(N, 51, 1), shape: [N, 1] };
    await sameTraining(build({ a: customMse, b: customHuber }, { a: [customHuber], b: [] }), build({ a: 'mse', b: losses.huber() }), {}, [x, { a: y, b: yb }]);
    await sameTraining(build(customMse, [customMse]), build('mse'), {}, [x, { a: y, b: yb }]);
    const m = build([customMse, 'mse'], [{ name: 'err', fn: customMse }]);
    const ev = m.evaluate(x, { a: y, b: yb });
    closeAll([ev.a_err!, ev.b_err!], [ev.a_loss!, ev.b_loss!], 1e-6, 'metric = loss per output');
  });

  it('refuses bad custom functions with errors naming them', async () => {
    const wrongShape = function wrongShape(yTrue: Tensor, yPred: Tensor) { return ops.square(ops.sub(yPred, yTrue)); };
    await assert.rejects(dense(wrongShape).fit(x, y, { epochs: 1, verbose: 0 }), /custom loss 'wrongShape' must return a scalar or one value per output row \(shape \[10\] for the output \[10,2\]\), got shape \[10,2\]/);
    await assert.rejects(dense(() => 1.5).fit(x, y, { epochs: 1, verbose: 0 }), /custom loss 'customLoss' must return a Tensor, got number 1.5/);
    const disposes = function disposes(yTrue: Tensor, yPred: Tensor) { const v = ops.mean(ops.square(ops.sub(yPred, yTrue))); v.dispose(); return v; };
    await assert.rejects(dense(disposes).fit(x, y, { epochs: 1, verbose: 0 }), /custom loss 'disposes' returned a disposed tensor/);
    const fromTargets = function fromTargets(yTrue: Tensor) { return ops.mean(yTrue); };
    await assert.rejects(dense(fromTargets).fit(x, y, { epochs: 1, verbose: 0 }), /fit: custom loss 'fromTargets' returned a tensor that does not derive from yPred/);
    const viaMatMul = function viaMatMul(yTrue: Tensor, yPred: Tensor) { return ops.mean(ops.matMul(yPred, yTrue, false, true)); };
    await assert.rejects(dense(viaMatMul).fit(x, y, { epochs: 1, verbose: 0 }), /matMul: argument 'a' derives from yPred of a custom loss, and matMul has no backward/);
    assert.throws(() => dense(42), /compile: unknown loss number 42; .* or a function \(yTrue, yPred\) => Tensor/);
    assert.throws(() => dense('mse', [{ name: 'x' }]), /compile: custom metric 'x': 'fn' must be a function \(yTrue, yPred\) => Tensor, got undefined/);
    assert.throws(() => dense('mse', [{ name: 'x', fn: customMse, extra: 1 }]), /compile: metric.*extra/);
    assert.throws(() => dense('mse', [42]), /compile: unknown metric number 42; .*or a function \(yTrue, yPred\) => Tensor or \{name, fn\}/);
    setSeed(3);
    const sparse = sequential([layers.dense({ units: 3, activation: 'softmax', inputShape: [F] })]);
    made.push(sparse);
    sparse.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', metrics: [customMse] });
    assert.throws(() => sparse.evaluate(x, { data: Int32Array.from({ length: N }, (_, i) => i % 3), shape: [N] }), /custom metric 'customMse': yTrue would be the int32 class labels of a sparse loss/);
  });

  it('a model compiled with a custom loss saves; loading it needs {compile: false} and the function again (as Keras)', async () => {
    const m = dense(customMse, [customHuber]);
    await m.fit(x, y, { epochs: 1, verbose: 0 });
    const dir = path.join(tempDir(), 'custom');
    m.save(dir);
    assert.throws(() => loadModel(dir), /compile: the model was compiled with the custom loss function 'customMse', which is not saved; load it with \{compile: false\} and compile it again with the function/);
    const back = loadModel(dir, { compile: false });
    made.push(back);
    back.compile({ optimizer: 'sgd', loss: customMse, metrics: [customHuber] });
    const [a, b] = [m.evaluate(x, y), back.evaluate(x, y)];
    closeAll([a.loss!, a.customHuber!], [b.loss!, b.customHuber!], 1e-7, 'same weights, same values');
  });
});
