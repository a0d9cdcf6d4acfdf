import assert from 'node:assert/strict';
import { dispose, endScope, keep, memory, type MemoryInfo, NativeResource, startScope, tensor, tidy, zeros, type Tensor } from '../lib';
import { native } from '../lib/native';
import { testDevices } from './support/devices';

/**
 * memory() must move exactly as the native allocator does, device by device (absolute figures can
 * differ: other suites hold raw native handles that bypass the JS layer).
 */
function assertConsistent(base: MemoryInfo): void {
  const m = memory();
  for (const device of ['cpu', 'cuda'] as const) {
    assert.equal(m.devices[device].numBytes - base.devices[device].numBytes, m.native[device].bytes - base.native[device].bytes, `${device} bytes: JS view vs native allocator`);
    assert.equal(m.devices[device].numDataBuffers - base.devices[device].numDataBuffers, m.native[device].buffers - base.native[device].buffers, `${device} buffers: JS view vs native allocator`);
  }
}

async function collectGarbage(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, 'tests run with --expose-gc (see .mocharc.json)');
  // FinalizationRegistry callbacks run as tasks after a collection; give them a few turns.
  for (let i = 0; i < 10; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

for (const device of testDevices) {
  describe(`memory accounting on ${device}`, () => {
    it('counts tensors and bytes exactly', () => {
      const base = memory();
      const a = zeros([3, 5], 'float32', { device });
      const b = zeros([7], 'int32', { device });
      const m = memory();
      assert.equal(m.numTensors - base.numTensors, 2);
      assert.equal(m.numDataBuffers - base.numDataBuffers, 2);
      assert.equal(m.numBytes - base.numBytes, 15 * 4 + 7 * 4);
      assert.equal(m.devices[device].numBytes - base.devices[device].numBytes, 88);
      assertConsistent(base);
      a.dispose();
      assert.equal(memory().numBytes - base.numBytes, 28);
      b.dispose();
      assert.deepEqual(memory().devices, base.devices);
      assertConsistent(base);
    });

    it('counts views as tensors sharing one buffer', () => {
      const base = memory();
      const a = zeros([4, 4], 'float32', { device });
      const v1 = a.reshape([16]);
      const v2 = v1.reshape([2, 8]);
      let m = memory();
      assert.equal(m.numTensors - base.numTensors, 3);
      assert.equal(m.numDataBuffers - base.numDataBuffers, 1);
      assert.equal(m.numBytes - base.numBytes, 64);
      a.dispose();
      v1.dispose();
      m = memory();
      assert.equal(m.numBytes - base.numBytes, 64, 'the buffer lives while a view does');
      v2.dispose();
      assert.deepEqual(memory().devices, base.devices);
      assertConsistent(base);
    });

    it('tidy disposes everything but the result, through nested scopes', () => {
      const base = memory();
      let innerKept!: Tensor;
      const result = tidy(() => {
        zeros([10], 'float32', { device });
        const inner = tidy('inner', () => {
          zeros([20], 'float32', { device });
          innerKept = keep(zeros([3], 'float32', { device }));
          const deep = tidy(() => [zeros([5], 'float32', { device }), { x: zeros([6], 'float32', { device }) }]);
          assert.equal(memory().numTensors - base.numTensors, 5);
          return deep;
        });
        // inner returned 2 tensors; the [20] one is gone, the kept one stays.
        assert.equal(memory().numTensors - base.numTensors, 4);
        return { first: inner[0], second: (inner[1] as { x: Tensor }).x, n: 1 };
      });
      const m = memory();
      assert.equal(m.numTensors - base.numTensors, 3);
      assert.equal(m.numBytes - base.numBytes, (5 + 6 + 3) * 4);
      assert.equal((result.first as Tensor).isDisposed, false);
      dispose([result, innerKept]);
      assert.deepEqual(memory().devices, base.devices);
      assertConsistent(base);
    });

    it('tidy cleans up when fn throws, and refuses async functions', () => {
      const base = memory();
      assert.throws(() => tidy(() => {
        zeros([8], 'float32', { device });
        throw new Error('boom');
      }), /boom/);
      assert.throws(() => tidy((async () => zeros([8], 'float32', { device })) as unknown as () => Tensor), /returned a Promise/);
      assert.throws(() => tidy(42 as unknown as () => void), /tidy: argument 'fn' must be a function/);
      assert.deepEqual(memory().devices, base.devices);
    });

    it('startScope/endScope balance and report misuse', () => {
      const base = memory();
      startScope();
      const keepMe = zeros([2], 'float32', { device });
      zeros([3], 'float32', { device });
      endScope(keepMe);
      assert.equal(memory().numTensors - base.numTensors, 1);
      keepMe.dispose();
      assert.throws(() => endScope(), /no scope is open/);
    });

    it('frees tensors that are garbage collected without dispose()', async () => {
      await collectGarbage();
      const base = memory();
      (() => {
        for (let i = 0; i < 50; i++) tensor(new Float32Array(1000), [1000], 'float32', { device });
      })();
      assert.equal(memory().numTensors - base.numTensors, 50);
      await collectGarbage();
      assert.deepEqual(memory().devices, base.devices);
      assertConsistent(base);
    });
  });
}

describe('native resources', () => {
  it('are counted, disposed by tidy, and freed when collected', async () => {
    const base = memory();
    let released = 0;
    const make = () => new NativeResource('test', 'cpu', 100, () => { released += 1; });
    tidy(() => { make(); });
    assert.equal(released, 1);
    const r = make();
    assert.equal(memory().numResources - base.numResources, 1);
    assert.equal(memory().numBytes - base.numBytes, 100);
    r.dispose();
    r.dispose();
    assert.equal(released, 2);
    (() => { make(); })();
    await collectGarbage();
    assert.equal(released, 3);
    assert.deepEqual(memory().devices, base.devices);
  });
});

describe('native allocator', () => {
  it('frees on explicit free and reports use after free', () => {
    const before = native.nativeMemory().cpu;
    const h = native.alloc('cpu', 'float32', 256);
    assert.equal(native.nativeMemory().cpu.bytes - before.bytes, 1024);
    assert.equal(native.isFreed(h), false);
    native.free(h);
    assert.equal(native.isFreed(h), true);
    assert.deepEqual(native.nativeMemory().cpu, before);
    assert.throws(() => native.read(h), /read: argument 'handle' is a tensor whose memory was already freed/);
    assert.throws(() => native.free(h), /free: argument 'handle' is a tensor whose memory was already freed/);
  });
});
