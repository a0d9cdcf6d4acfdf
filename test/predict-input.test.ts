// predict on tensor inputs: a tensor already on the model's device is batched where it lies (no
// host round trip), and the result is the same as from host data, bitwise; the caller's tensor is
// never freed, changed or handed back as the output (an identity model returns a copy); NaN in a
// tensor input is refused with the host path's message; memory returns to its count.
import assert from 'node:assert/strict';
import { input, layers, memory, model, sequential, setSeed, tensor, type Sequential, type SymbolicTensor, type Tensor } from '../lib';

let s = 7;
const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31), s / 2 ** 31 - 0.5);
const host = (shape: number[]) => ({ data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rnd), shape });

/** predict's output values, the output disposed. */
function values(y: Tensor | Tensor[]): Float32Array[] {
  const ys = Array.isArray(y) ? y : [y];
  const out = ys.map((t) => Float32Array.from(t.dataSync() as Float32Array));
  ys.forEach((t) => t.dispose());
  return out;
}

describe('predict on tensor inputs', () => {
  let baseline: number;
  beforeEach(() => {
    baseline = memory().numTensors;
  });
  afterEach(() => assert.equal(memory().numTensors, baseline, 'tensors leaked'));

  it('Sequential: the same outputs as from host data, bitwise, in one batch and in several; the input stays as it was', async () => {
    setSeed(1);
    const m = sequential([layers.gru({ units: 6, inputShape: [5, 3] }), layers.dense({ units: 2 })]);
    const xh = host([7, 5, 3]);
    const x = tensor(xh.data, xh.shape);
    for (const batchSize of [7, 32, 3, 1]) {
      const want = values(m.predict(xh, { batchSize }));
      assert.deepEqual(values(m.predict(x, { batchSize })), want, `batchSize ${batchSize}`);
      assert.deepEqual(values(await m.predictAsync(x, { batchSize })), want, `predictAsync, batchSize ${batchSize}`);
    }
    assert.deepEqual(x.dataSync(), xh.data, 'the input is unchanged');
    x.dispose();
    m.dispose();
  });

  it('a functional model with two inputs given as tensors (int32 ids for an embedding: the host way; float32 features: in place): the host-data outputs', () => {
    setSeed(2);
    const ids = input({ shape: [4], dtype: 'int32', name: 'ids' });
    const feats = input({ shape: [4, 2], name: 'feats' });
    const e = layers.embedding({ inputDim: 9, outputDim: 3, maskZero: true }).apply(ids) as SymbolicTensor;
    const joined = layers.concatenate().apply([e, feats]) as SymbolicTensor;
    const out = layers.dense({ units: 1 }).apply(layers.gru({ units: 4 }).apply(joined) as SymbolicTensor) as SymbolicTensor;
    const m = model({ inputs: [ids, feats], outputs: [out, e] });
    const idData = Int32Array.from([1, 2, 3, 0, 4, 5, 0, 0, 8, 7, 6, 5]);
    const fh = host([3, 4, 2]);
    const idT = tensor(idData, [3, 4], 'int32');
    const fT = tensor(fh.data, fh.shape);
    for (const batchSize of [3, 2]) {
      const want = values(m.predict([{ data: idData, shape: [3, 4] }, fh], { batchSize }));
      assert.deepEqual(values(m.predict({ ids: idT, feats: fT }, { batchSize })), want, `batchSize ${batchSize}`);
    }
    idT.dispose();
    fT.dispose();
    m.dispose();
  });

  it('an identity model returns a copy, not the caller\'s tensor or a view of it', () => {
    const models: Sequential[] = [sequential([layers.dropout({ rate: 0.5, inputShape: [2, 3] })]), sequential([layers.flatten({ inputShape: [2, 3] })])];
    for (const m of models) {
      const x = tensor(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), [2, 2, 3]);
      const y = m.predict(x) as Tensor;
      assert.ok(!y.sharesMemoryWith(x), `${m.layers[0]!.className}: the output shares the input's memory`);
      y.dispose();
      assert.deepEqual([...x.dataSync()], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'the input outlives the output');
      x.dispose();
      m.dispose();
    }
  });

  it('NaN or Inf in a tensor input is refused as in host data, saying where', () => {
    setSeed(3);
    const m = sequential([layers.gru({ units: 3, inputShape: [2, 2] })]);
    for (const bad of [NaN, Infinity]) {
      const data = Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
      data[6] = bad;
      const x = tensor(data, [2, 2, 2]);
      assert.throws(() => m.predict(x), new RegExp(`predict: x contains ${bad} at sample 1, feature index \\[1, 0\\]`));
      x.dispose();
    }
    m.dispose();
  });

  it('sharesMemoryWith: true for reshape views, false for copies; checks its argument', () => {
    const x = tensor([1, 2, 3, 4], [2, 2]);
    const v = x.reshape([4]);
    const c = x.clone();
    assert.equal(v.sharesMemoryWith(x), true);
    assert.equal(c.sharesMemoryWith(x), false);
    assert.throws(() => x.sharesMemoryWith([1, 2] as never), /sharesMemoryWith: argument 'other' must be a Tensor, got an array/);
    c.dispose();
    v.dispose();
    assert.throws(() => v.sharesMemoryWith(x), /disposed/);
    x.dispose();
  });
});
