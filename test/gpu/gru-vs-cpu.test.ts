// `npm run test:gpu`: the cuDNN engine against the CPU engine on fresh random inputs, every option
// combination, forward and backward; FP32 maths, relative error <= 1e-5. Skips (saying why) when
// CUDA does not work here. `npm test` includes this file too.
import assert from 'node:assert/strict';
import { backendInfo, memory, ops, setAllowTF32, tensor, tidy, type Tensor } from '../../lib';
import { rand } from '../io-helpers/reference';

const cuda = backendInfo().cuda;
const TOLERANCE = 1e-5;

/** max|a−b| / max|b|: relative to the reference's magnitude, as for float rounding. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let mag = 1e-30;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    mag = Math.max(mag, Math.abs(b[i]));
  }
  return diff / mag;
}

interface Case {
  B: number; T: number; I: number; H: number; L: number; bidirectional: boolean; h0: boolean; lengths?: number[];
  /** NaN in x and dy at the padded steps (t ≥ length): must not reach any result. */
  nanPadding?: boolean;
}

const cases: Case[] = [];
for (const L of [1, 2]) {
  for (const bidirectional of [false, true]) {
    for (const h0 of [false, true]) {
      for (const lengths of [undefined, [7, 3, 0, 1, 5]]) cases.push({ B: 5, T: 7, I: 6, H: 8, L, bidirectional, h0, lengths });
    }
  }
}
cases.push({ B: 64, T: 50, I: 32, H: 128, L: 1, bidirectional: false, h0: false }); // small-H path
cases.push({ B: 32, T: 1, I: 20, H: 20, L: 1, bidirectional: false, h0: true });
cases.push({ B: 16, T: 30, I: 64, H: 256, L: 2, bidirectional: true, h0: true, lengths: Array.from({ length: 16 }, (_, i) => (i * 7) % 31) });
cases.push({ B: 5, T: 7, I: 6, H: 8, L: 2, bidirectional: true, h0: true, lengths: [7, 3, 0, 1, 5], nanPadding: true });

/** NaN at every padded step (t ≥ lengths[b]) of a [B, T, F] array. */
function padWithNaN(v: Float32Array, c: Case, features: number): Float32Array {
  for (let b = 0; b < c.B; b++) {
    for (let t = c.lengths![b]!; t < c.T; t++) v.fill(NaN, (b * c.T + t) * features, (b * c.T + t + 1) * features);
  }
  return v;
}

function run(device: 'cpu' | 'cuda', c: Case, seed: number) {
  return tidy(() => {
    const D = c.bidirectional ? 2 : 1;
    const on = { device };
    const shapes = ops.gruParamShapes(c.I, c.H, c.L, c.bidirectional);
    const params: Record<string, Tensor> = {};
    let k = 0;
    for (const [name, shape] of Object.entries(shapes)) {
      params[name] = tensor(rand(shape.reduce((a, b) => a * b, 1), seed + ++k, 1 / Math.sqrt(c.H)), shape, 'float32', on);
    }
    const pad = (v: Float32Array, features: number) => (c.nanPadding ? padWithNaN(v, c, features) : v);
    const x = tensor(pad(rand(c.B * c.T * c.I, seed + 100, 2), c.I), [c.B, c.T, c.I], 'float32', on);
    const h0 = c.h0 ? tensor(rand(c.L * D * c.B * c.H, seed + 200, 1), [c.L * D, c.B, c.H], 'float32', on) : undefined;
    const dy = tensor(pad(rand(c.B * c.T * D * c.H, seed + 300, 1), D * c.H), [c.B, c.T, D * c.H], 'float32', on);
    const dhN = tensor(rand(c.L * D * c.B * c.H, seed + 400, 1), [c.L * D, c.B, c.H], 'float32', on);
    const inference = ops.gru(x, params, { hiddenSize: c.H, numLayers: c.L, bidirectional: c.bidirectional, h0, lengths: c.lengths });
    const training = ops.gru(x, params, { hiddenSize: c.H, numLayers: c.L, bidirectional: c.bidirectional, h0, lengths: c.lengths, training: true, retainState: true });
    const grads = training.backward(dy, dhN);
    // A second backward through the same forward (cuDNN's backward-data writes into its reserve).
    const again = training.backward(dy, dhN);
    const read = (t: Tensor) => t.dataSync();
    return {
      y: read(inference.output), hN: read(inference.hN), yTrain: read(training.output), hNTrain: read(training.hN),
      dx: read(grads.dx), dh0: read(grads.dh0), dxAgain: read(again.dx), dh0Again: read(again.dh0),
      dParams: Object.fromEntries(Object.entries(grads.dParams).map(([n, t]) => [n, read(t)])),
      dParamsAgain: Object.fromEntries(Object.entries(again.dParams).map(([n, t]) => [n, read(t)])),
    };
  });
}

describe('GPU: cuDNN GRU against the CPU engine', function () {
  before(function () {
    if (!cuda.available) {
      console.log(`    (skipped: CUDA is not available: ${cuda.reason})`);
      this.skip();
    }
  });

  cases.forEach((c, i) => {
    const name = `B${c.B} T${c.T} I${c.I} H${c.H} L${c.L}${c.bidirectional ? ' bidirectional' : ''}${c.h0 ? ' h0' : ''}${c.lengths ? ` lengths [${c.lengths}]` : ''}`;
    it(name, () => {
      const cpu = run('cpu', c, 1000 * i);
      const gpu = run('cuda', c, 1000 * i);
      for (const key of ['y', 'hN', 'yTrain', 'hNTrain', 'dx', 'dh0', 'dxAgain', 'dh0Again'] as const) {
        const err = relativeError(gpu[key], cpu[key]);
        assert.ok(err <= TOLERANCE, `${key}: relative error ${err.toExponential(2)} > ${TOLERANCE}`);
      }
      for (const n of Object.keys(cpu.dParams)) {
        const err = relativeError(gpu.dParams[n], cpu.dParams[n]);
        assert.ok(err <= TOLERANCE, `d${n}: relative error ${err.toExponential(2)} > ${TOLERANCE}`);
        const again = relativeError(gpu.dParamsAgain[n], cpu.dParams[n]);
        assert.ok(again <= TOLERANCE, `d${n} (second backward): relative error ${again.toExponential(2)} > ${TOLERANCE}`);
      }
    });
  });

  it('returns device memory to its baseline over many training steps', () => {
    const c = cases[cases.length - 1];
    run('cuda', c, 7); // warm the caches (descriptors, allocator)
    const base = memory();
    for (let step = 0; step < 50; step++) run('cuda', c, step);
    const after = memory();
    assert.deepEqual(after.devices, base.devices);
    assert.equal(after.native.cuda.bytes, base.native.cuda.bytes);
    assert.equal(after.native.cuda.buffers, base.native.cuda.buffers);
  });

  // TF32 keeps 10 mantissa bits: ~1e-3 relative per product. The switch must reach both cuDNN and
  // cuBLAS, and switching back must restore FP32 agreement exactly as before.
  it('allowTF32: close to FP32 while on, FP32 agreement again once off', () => {
    const c: Case = { B: 32, T: 20, I: 64, H: 256, L: 1, bidirectional: false, h0: true };
    const cpu = run('cpu', c, 11);
    const a = rand(256 * 512, 12, 1), b = rand(512 * 128, 13, 1);
    const gemm = (device: 'cpu' | 'cuda') => tidy(() => ops.matMul(tensor(a, [256, 512], 'float32', { device }), tensor(b, [512, 128], 'float32', { device })).dataSync());
    const gemmCpu = gemm('cpu');
    setAllowTF32(true);
    let tf32: ReturnType<typeof run>, gemmTf32: Float32Array;
    try {
      assert.equal(backendInfo().cuda.allowTF32, true);
      tf32 = run('cuda', c, 11);
      gemmTf32 = gemm('cuda') as Float32Array;
    } finally {
      setAllowTF32(false);
    }
    const fp32 = run('cuda', c, 11);
    for (const key of ['y', 'hN', 'dx', 'dh0'] as const) {
      const loose = relativeError(tf32[key], cpu[key]);
      assert.ok(loose <= 1e-2, `TF32 ${key}: relative error ${loose.toExponential(2)} > 1e-2`);
      const exact = relativeError(fp32[key], cpu[key]);
      assert.ok(exact <= TOLERANCE, `FP32 again ${key}: relative error ${exact.toExponential(2)} > ${TOLERANCE}`);
    }
    assert.ok(relativeError(gemmTf32, gemmCpu) <= 1e-2);
    assert.ok(relativeError(gemm('cuda'), gemmCpu) <= TOLERANCE, 'GEMM back to FP32');
  });
});
