// `npm run test:gpu`: cuDNN's LSTM, RNN-tanh and RNN-relu against the CPU engine on fresh random
// inputs (layers, directions, h0/c0, ragged lengths with 0, NaN padding), forward and backward,
// a second backward through one forward, and memory; FP32 maths, relative error <= 1e-5. Skips
// (saying why) when CUDA does not work here. (The GRU has its own file, gru-vs-cpu.test.ts.)
import assert from 'node:assert/strict';
import { backendInfo, memory, tensor, tidy, type Tensor } from '../../lib';
import { lstmParamShapes, rnnParamShapes } from '../../lib/ops';
import { rand } from '../io-helpers/reference';
import { relError, runMode, type Mode } from '../support/recurrent';

const cuda = backendInfo().cuda;
const TOLERANCE = 1e-5;

interface Case {
  mode: Exclude<Mode, 'gru'>;
  B: number; T: number; I: number; H: number; L: number; bidirectional: boolean; state: boolean; lengths?: number[];
  /** NaN in x and dy at the padded steps (t ≥ length): must not reach any result. */
  nanPadding?: boolean;
}

const cases: Case[] = [];
for (const mode of ['lstm', 'rnn_tanh', 'rnn_relu'] as const) {
  for (const L of [1, 2]) {
    for (const bidirectional of [false, true]) {
      for (const lengths of [undefined, [7, 3, 0, 1, 5]]) cases.push({ mode, B: 5, T: 7, I: 6, H: 8, L, bidirectional, state: L === 2, lengths });
    }
  }
  cases.push({ mode, B: 16, T: 30, I: 64, H: 256, L: 2, bidirectional: true, state: true, lengths: Array.from({ length: 16 }, (_, i) => (i * 7) % 31) });
  cases.push({ mode, B: 5, T: 7, I: 6, H: 8, L: 2, bidirectional: true, state: true, lengths: [7, 3, 0, 1, 5], nanPadding: true });
}

function run(device: 'cpu' | 'cuda', c: Case, seed: number): Record<string, Float32Array> {
  return tidy(() => {
    const D = c.bidirectional ? 2 : 1;
    const on = { device };
    const shapes = (c.mode === 'lstm' ? lstmParamShapes : rnnParamShapes)(c.I, c.H, c.L, c.bidirectional);
    const params: Record<string, Tensor> = {};
    let k = 0;
    // ReLU's derivative jumps at 0: a pre-activation within rounding of 0 may land on either side on
    // the two devices and move a gradient by a whole term. So for rnn_relu the weights are 4× smaller
    // and each unit's two biases ±0.75 (the sign alternating by unit): pre-activations sit ±1.5 away
    // from 0 with a spread of about 0.3 (large case), half the units always on, half always off.
    const relu = c.mode === 'rnn_relu';
    for (const [name, shape] of Object.entries(shapes)) {
      const values = rand(shape.reduce((a, b) => a * b, 1), seed + ++k, (relu ? 0.25 : 1) / Math.sqrt(c.H));
      if (relu && name.startsWith('bias_')) values.forEach((v, i) => (values[i] = v + (i % 2 ? 0.75 : -0.75)));
      params[name] = tensor(values, shape, 'float32', on);
    }
    const pad = (v: Float32Array, features: number) => {
      if (!c.nanPadding) return v;
      for (let b = 0; b < c.B; b++) for (let t = c.lengths![b]!; t < c.T; t++) v.fill(NaN, (b * c.T + t) * features, (b * c.T + t + 1) * features);
      return v;
    };
    const state = (s: number) => tensor(rand(c.L * D * c.B * c.H, seed + s, 1), [c.L * D, c.B, c.H], 'float32', on);
    const x = tensor(pad(rand(c.B * c.T * c.I, seed + 100, 2), c.I), [c.B, c.T, c.I], 'float32', on);
    const lstm = c.mode === 'lstm';
    const opts = {
      hiddenSize: c.H, numLayers: c.L, bidirectional: c.bidirectional, lengths: c.lengths,
      ...(c.state ? { h0: state(200), ...(lstm ? { c0: state(250) } : {}) } : {}),
    };
    const dy = tensor(pad(rand(c.B * c.T * D * c.H, seed + 300, 1), D * c.H), [c.B, c.T, D * c.H], 'float32', on);
    const dhN = state(400);
    const dcN = lstm ? state(450) : null;
    const inference = runMode(c.mode, x, params, opts);
    const training = runMode(c.mode, x, params, { ...opts, training: true, retainState: true });
    const grads = training.backward(dy, dhN, dcN);
    // A second backward through the same forward (cuDNN's backward-data writes into its reserve).
    const again = training.backward(dy, dhN, dcN);
    const out: Record<string, Float32Array> = {
      y: inference.output.dataSync() as Float32Array, hN: inference.hN.dataSync() as Float32Array,
      yTrain: training.output.dataSync() as Float32Array, dx: grads.dx.dataSync() as Float32Array,
      dh0: grads.dh0.dataSync() as Float32Array, dxAgain: again.dx.dataSync() as Float32Array,
    };
    if (lstm) Object.assign(out, { cN: inference.cN!.dataSync(), dc0: grads.dc0!.dataSync(), dc0Again: again.dc0!.dataSync() });
    for (const [n, t] of Object.entries(grads.dParams)) out[`d${n}`] = t.dataSync() as Float32Array;
    for (const [n, t] of Object.entries(again.dParams)) out[`d${n} (second backward)`] = t.dataSync() as Float32Array;
    return out;
  });
}

describe('GPU: cuDNN LSTM and simple RNN against the CPU engine', function () {
  before(function () {
    if (!cuda.available) {
      console.log(`    (skipped: CUDA is not available: ${cuda.reason})`);
      this.skip();
    }
  });

  cases.forEach((c, i) => {
    const name = `${c.mode} B${c.B} T${c.T} I${c.I} H${c.H} L${c.L}${c.bidirectional ? ' bidirectional' : ''}${c.state ? ' initial state' : ''}${c.lengths ? ` lengths [${c.lengths}]` : ''}${c.nanPadding ? ' NaN padding' : ''}`;
    it(name, () => {
      const cpu = run('cpu', c, 1000 * i);
      const gpu = run('cuda', c, 1000 * i);
      assert.deepEqual(Object.keys(gpu), Object.keys(cpu));
      for (const key of Object.keys(cpu)) {
        const reference = key.endsWith('Again') ? cpu[key.replace('Again', '')]! : key.endsWith(' (second backward)') ? cpu[key.replace(' (second backward)', '')]! : cpu[key]!;
        const err = relError(gpu[key]!, reference);
        assert.ok(err <= TOLERANCE, `${key}: relative error ${err.toExponential(2)} > ${TOLERANCE}`);
      }
    });
  });

  it('returns device memory to its baseline over many training steps (every mode)', () => {
    const modeCases = cases.filter((c) => c.nanPadding);
    for (const c of modeCases) run('cuda', c, 7); // warm the caches (descriptors, allocator)
    const base = memory();
    for (let step = 0; step < 20; step++) for (const c of modeCases) run('cuda', c, step);
    const after = memory();
    assert.deepEqual(after.devices, base.devices);
    assert.equal(after.native.cuda.bytes, base.native.cuda.bytes);
    assert.equal(after.native.cuda.buffers, base.native.cuda.buffers);
  });
});
