import assert from 'node:assert/strict';
import { memory, ones, ops, scalar, tensor, zeros, fill, Tensor } from '../lib';
import { native } from '../lib/native';
import { testDevices } from './support/devices';

for (const device of testDevices) {
  describe(`tensors on ${device}`, () => {
    it('round-trips nested arrays with their shape', () => {
      const t = tensor([[1, 2, 3], [4, 5, 6]], undefined, undefined, { device });
      assert.deepEqual(t.shape, [2, 3]);
      assert.equal(t.dtype, 'float32');
      assert.equal(t.device, device);
      assert.equal(t.size, 6);
      assert.equal(t.rank, 2);
      assert.deepEqual(Array.from(t.dataSync()), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(t.arraySync(), [[1, 2, 3], [4, 5, 6]]);
      t.dispose();
    });

    it('keeps float32 rounding and int32 values exactly', () => {
      const f = tensor(new Float32Array([0.1, -2.5e-30, 3.4e38]), [3], 'float32', { device });
      assert.deepEqual(f.dataSync(), new Float32Array([0.1, -2.5e-30, 3.4e38]));
      const i = tensor([2147483647, -2147483648, 0], [3], 'int32', { device });
      assert.ok(i.dataSync() instanceof Int32Array);
      assert.deepEqual(Array.from(i.dataSync()), [2147483647, -2147483648, 0]);
      f.dispose();
      i.dispose();
    });

    it('reads asynchronously', async () => {
      const t = tensor([1.5, 2.5], [2, 1], 'float32', { device });
      assert.deepEqual(Array.from(await t.data()), [1.5, 2.5]);
      assert.deepEqual(await t.array(), [[1.5], [2.5]]);
      t.dispose();
    });

    it('data() gives the values as of the call: later in-place ops, writes and dispose do not change it', async () => {
      const base = memory();
      const t = tensor([1, 2, 3], [3], 'float32', { device });
      ops.fill_(t, 5); // queued before the read: included
      const first = t.data();
      ops.fill_(t, 7); // queued after it: not included
      const second = t.data();
      native.write(t.handle(), Float32Array.from([8, 9, 10]));
      const third = t.data();
      t.dispose(); // while the reads may still be pending
      const big = zeros([1 << 20], 'float32', { device });
      ops.fill_(big, 1.5);
      const bigRead = big.data();
      big.dispose();
      const labels = tensor(Int32Array.from([4, -5]), [2], 'int32', { device });
      const labelRead = labels.data();
      labels.dispose();
      assert.deepEqual(Array.from(await first), [5, 5, 5]);
      assert.deepEqual(Array.from(await second), [7, 7, 7]);
      assert.deepEqual(Array.from(await third), [8, 9, 10]);
      const b = await bigRead;
      assert.equal(b.length, 1 << 20);
      assert.ok(b.every((v) => v === 1.5));
      const l = await labelRead;
      assert.ok(l instanceof Int32Array);
      assert.deepEqual(Array.from(l), [4, -5]);
      const after = memory();
      assert.deepEqual(after.devices, base.devices);
      assert.deepEqual(after.native[device], base.native[device], 'the reads hold no memory once they have resolved');
    });

    it('makes zeros, ones, fill and scalars', () => {
      const z = zeros([2, 2], 'float32', { device });
      const o = ones([3], 'int32', { device });
      const f = fill([2], 7.25, 'float32', { device });
      const s = scalar(3, 'float32', { device });
      assert.deepEqual(Array.from(z.dataSync()), [0, 0, 0, 0]);
      assert.deepEqual(Array.from(o.dataSync()), [1, 1, 1]);
      assert.deepEqual(Array.from(f.dataSync()), [7.25, 7.25]);
      assert.deepEqual(s.shape, []);
      assert.equal(s.arraySync(), 3);
      for (const t of [z, o, f, s]) t.dispose();
    });

    it('supports empty tensors', () => {
      const e = zeros([0, 4], 'float32', { device });
      assert.equal(e.size, 0);
      assert.equal(e.dataSync().length, 0);
      e.dispose();
    });

    it('reshapes as a view and clones as a copy', () => {
      const t = tensor([1, 2, 3, 4, 5, 6], [6], 'float32', { device });
      const v = t.reshape([3, -1]);
      assert.deepEqual(v.shape, [3, 2]);
      const before = memory();
      const c = t.clone();
      assert.equal(memory().numBytes - before.numBytes, 24);
      t.dispose();
      assert.deepEqual(Array.from(v.dataSync()), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(Array.from(c.dataSync()), [1, 2, 3, 4, 5, 6]);
      assert.throws(() => v.reshape([4, 2]), /cannot view 6 elements as shape \[4,2\]/);
      v.dispose();
      c.dispose();
    });

    it('moves between devices', () => {
      const t = tensor([1, 2, 3], [3], 'float32', { device });
      const cpu = t.to('cpu');
      assert.equal(cpu.device, 'cpu');
      assert.deepEqual(Array.from(cpu.dataSync()), [1, 2, 3]);
      if (cpu !== t) cpu.dispose();
      t.dispose();
    });

    it('rejects use after dispose with a clear error', () => {
      const t = tensor([1, 2], [2], 'float32', { device });
      t.dispose();
      t.dispose(); // idempotent
      assert.equal(t.isDisposed, true);
      assert.throws(() => t.dataSync(), /dataSync: tensor \d+ \(shape \[2\]\) was disposed/);
      assert.throws(() => t.reshape([2]), /reshape: .* was disposed/);
      assert.throws(() => t.clone(), /clone: .* was disposed/);
      assert.throws(() => t.dtype, /dtype: .* was disposed/);
      return assert.rejects(t.data(), /data: .* was disposed/);
    });

    it('frees with `using` (Symbol.dispose)', () => {
      const before = memory().numTensors;
      let escaped: Tensor | undefined;
      {
        using t = zeros([4], 'float32', { device });
        escaped = t;
        assert.equal(memory().numTensors, before + 1);
      }
      assert.equal(escaped.isDisposed, true);
      assert.equal(memory().numTensors, before);
    });
  });
}

describe('tensor creation errors', () => {
  it('names the argument, what was expected and what came', () => {
    assert.throws(() => tensor([1, 2, 3], [2, 2]), /tensor: argument 'values' has 3 elements but shape \[2,2\] needs 4/);
    assert.throws(() => tensor([[1, 2], [3]]), /not rectangular: values\[1\] should be an array of length 2, got an array of length 1/);
    assert.throws(() => tensor([1, 'a' as unknown as number]), /argument 'values'\[1\] must be a number, got the string 'a'/);
    assert.throws(() => tensor('x' as unknown as number), /argument 'values' must be a number, a nested array/);
    assert.throws(() => tensor([1.5], [1], 'int32'), /int32 tensor values must be integers .* element 0 is 1.5/);
    assert.throws(() => tensor([1], [1], 'float64' as 'float32'), /argument 'dtype' must be 'float32' or 'int32', got the string 'float64'/);
    assert.throws(() => zeros([2, -1]), /argument 'shape' must be an array of non-negative integers/);
    assert.throws(() => zeros([2], 'float32', { device: 'gpu' as 'cuda' }), /option 'device' must be 'cpu' or 'cuda', got the string 'gpu'/);
  });
});
