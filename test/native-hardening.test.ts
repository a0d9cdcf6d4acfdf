// The native handle table and size bounds: freed handles stay detectable after their slot is
// reused, handle kinds never mix, and sizes are checked before anything is allocated.
import assert from 'node:assert/strict';
import type { TensorHandle } from '../binding';
import { native } from '../lib/native';

describe('native handles', () => {
  it('a freed handle stays freed after its slot is reused by a new allocation', () => {
    const before = native.nativeMemory().cpu;
    const stale: TensorHandle[] = [];
    for (let i = 0; i < 100; i++) {
      const h = native.alloc('cpu', 'float32', 4, new Float32Array([i, i, i, i]));
      native.free(h);
      stale.push(h);
    }
    // Fresh handles take the freed slots; each reads its own data, the stale ones none.
    const fresh = Array.from({ length: 100 }, (_, i) => native.alloc('cpu', 'int32', 2, new Int32Array([i, 1000 - i])));
    for (const h of stale) {
      assert.equal(native.isFreed(h), true);
      assert.throws(() => native.read(h), /read: argument 'handle' is a tensor whose memory was already freed \(used after dispose\)/);
      assert.throws(() => native.write(h, new Float32Array(4)), /write: argument 'handle' is a tensor whose memory was already freed/);
      assert.throws(() => native.free(h), /free: argument 'handle' is a tensor whose memory was already freed/);
    }
    fresh.forEach((h, i) => {
      assert.equal(native.isFreed(h), false);
      assert.deepEqual(Array.from(native.read(h)), [i, 1000 - i]);
    });
    assert.equal(native.nativeMemory().cpu.buffers - before.buffers, 100);
    for (const h of fresh) native.free(h);
    assert.deepEqual(native.nativeMemory().cpu, before);
  });

  it('free releases the memory at once, in a loop that never yields', () => {
    const before = native.nativeMemory().cpu;
    for (let i = 0; i < 50000; i++) native.free(native.alloc('cpu', 'float32', 256));
    assert.deepEqual(native.nativeMemory().cpu, before);
  });

  it('tells tensor handles, GRU training state and anything else apart', () => {
    const cfg = { inputSize: 1, hiddenSize: 1, numLayers: 1, bidirectional: false, dropout: 0, seed: 0, batch: 1, seqLen: 1 };
    const x = native.alloc('cpu', 'float32', 1);
    const params = [3, 3, 3, 3].map((n) => native.alloc('cpu', 'float32', n));
    const fwd = native.gruForward(cfg, x, null, null, params, true);
    const reserve = fwd.reserve!;
    const asTensor = reserve as unknown as TensorHandle;
    assert.throws(() => native.read(asTensor), /read: argument 'handle' must be a tensor handle, got a foreign native handle/);
    assert.throws(() => native.isFreed(asTensor), /isFreed: argument 'handle' must be a tensor handle, got a foreign native handle/);
    assert.throws(() => native.free(asTensor), /free: argument 'handle' must be a tensor handle/);
    assert.throws(() => native.gruReserveFree(x as never), /gruReserveFree: argument 'reserve' must be the training state returned by gruForward/);
    for (const garbage of [0, 1, 2 ** 32, {}, null, 'handle'])
      assert.throws(() => native.isFreed(garbage as never), /isFreed: argument 'handle' must be a tensor handle, got /);
    assert.equal(native.gruReserveFree(reserve), true);
    assert.equal(native.gruReserveFree(reserve), false, 'freeing twice is harmless');
    assert.throws(() => native.read(asTensor), /must be a tensor handle, got a foreign native handle/, 'a freed state is still not a tensor');
    for (const h of [x, ...params, fwd.y, fwd.hN]) native.free(h);
  });
});

describe('native sizes', () => {
  it('refuses host allocations larger than the machine before allocating, and sizes beyond the bound', () => {
    const before = native.nativeMemory().cpu;
    assert.throws(() => native.alloc('cpu', 'float32', 2 ** 40), /out of host memory: 4398046511104 bytes requested, more than this machine's \d+ bytes of physical memory/);
    assert.throws(() => native.alloc('cpu', 'int32', 2 ** 40 + 1), /alloc: argument 'numel' must be an integer in \[0, 1099511627776\], got the number 1099511627777/);
    assert.throws(() => native.alloc('cpu', 'int32', 1.5), /got the number 1\.5$/);
    assert.throws(() => native.alloc('cpu', 'int32', 0.1), /got the number 0\.1$/);
    assert.throws(() => native.alloc('cpu', 'int32', 2 ** 60), /got the number 1152921504606846976$/);
    assert.throws(() => native.alloc('cpu', 'int32', -Infinity), /got the number -Infinity$/);
    assert.throws(() => native.alloc('cpu', 'float32', 8, new Float32Array(7)), /alloc: argument 'init' must be a Float32Array of length 8, got a Float32Array of length 7/);
    assert.deepEqual(native.nativeMemory().cpu, before, 'nothing stays allocated');
  });
});
