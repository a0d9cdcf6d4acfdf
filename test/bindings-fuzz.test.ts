// Every function of the native addon, called with garbage: each call must either work or throw a
// JS error that names the function; none may crash or abort the process.
import assert from 'node:assert/strict';
import { native } from '../lib/native';

const freed = native.alloc('cpu', 'float32', 4);
native.free(freed);

function garbage(): unknown[] {
  return [
    undefined, null, true, 0, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 53, 1e20, -0,
    '', 'cpu', 'cuda', 'float32', 'int32', 'nonsense', Symbol('s'), 10n,
    {}, [], [1, 2], [native.alloc('cpu', 'float32', 2)], { inputSize: 1e9 }, () => 1,
    new Float32Array(3), new Int32Array(2), new Float64Array(2), new Uint8Array(4), Buffer.from('abc'),
    new ArrayBuffer(8), new Date(), Promise.resolve(1),
    freed, native.alloc('cpu', 'float32', 3), native.alloc('cpu', 'int32', 2),
  ];
}

// Functions that take no arguments (extra ones are ignored), so garbage cannot make them throw.
const NO_ARGUMENTS = new Set(['backendInfo', 'getNumThreads', 'nativeMemory']);

describe('native bindings under garbage input', function () {
  this.timeout(600000);
  const functions = Object.entries(native as unknown as Record<string, unknown>).filter(([, f]) => typeof f === 'function');

  it('exports the documented functions', () => {
    for (const name of ['alloc', 'read', 'readAsync', 'write', 'copyTo', 'free', 'isFreed', 'nativeMemory', 'backendInfo', 'setNumThreads', 'getNumThreads', 'synchronize']) {
      assert.equal(typeof (native as unknown as Record<string, unknown>)[name], 'function', name);
    }
  });

  for (const [name, fn] of functions) {
    it(`${name}() never crashes`, async () => {
      const threads = native.getNumThreads();
      const tf32 = native.backendInfo().cuda.allowTF32;
      const values = garbage();
      let calls = 0;
      let errors = 0;
      const call = async (args: unknown[]) => {
        calls += 1;
        try {
          const out = (fn as (...a: unknown[]) => unknown)(...args);
          if (out instanceof Promise) await out;
        } catch (err) {
          errors += 1;
          assert.ok(err instanceof Error, `${name} threw a non-Error: ${String(err)}`);
          assert.ok(err.message.length > 0);
          if (!/out of (host|device) memory|CUDA is not available/.test(err.message)) {
            assert.match(err.message, new RegExp(`\\b${name}\\b|handle|argument`), `${name}: unhelpful message: ${err.message}`);
          }
        }
      };
      await call([]);
      for (const a of values) {
        await call([a]);
        for (const b of values) await call([a, b]);
        await call([a, a, a, a, a, a, a, a]);
      }
      // Plausible first arguments with garbage after them reach the deeper checks.
      for (const b of values) for (const c of values) await call(['cpu', 'float32', b, c]);
      native.setNumThreads(threads);
      native.setAllowTF32(tf32);
      assert.ok(calls > 1000);
      if (!NO_ARGUMENTS.has(name)) assert.ok(errors > 0, `${name} rejected none of ${calls} garbage calls`);
    });
  }
});
