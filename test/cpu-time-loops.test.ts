// The CPU engine's recurrent time loops (native/cpu/gru_cpu.cpp) on shapes that take each of
// their paths on a multi-core x86-64 CPU with AVX2 or AVX-512:
// - split by samples (runPackedBySamples), forward and backward, where packed W_hh fits a core's
//   L2 twice over: several tiles of samples, small W_hh, enough work per step for two threads;
// - split by hidden units, with the input projection and the step outputs written past the
//   caches (StepArgs / ProjectArgs::stream), where they are bigger than a core's L2 (2 MiB on the
//   Xeon these were measured on; smaller caches stream from smaller shapes).
// Results must match a float64 reference and be the same, bit for bit, as a one-thread run,
// which splits nothing.
import assert from 'node:assert/strict';
import { getNumThreads, memory, setNumThreads } from '../lib';
import { gruParamShapes, lstmParamShapes, rnnParamShapes } from '../lib/ops';
import { assertClose, disposeAll, randomProblem, refForward, runMode, toEngine, type Mode, type ProblemShape, type RefProblem } from './support/recurrent';

// The simple RNN's units go in 3 blocks at H 96 and 4 at H 64, 128 and 512 (packed::layout).
const paramShapes: Record<Mode, (o: ProblemShape) => Record<string, number[]>> = {
  gru: (o) => gruParamShapes(o.I, o.H, o.L, o.bidirectional),
  lstm: (o) => lstmParamShapes(o.I, o.H, o.L, o.bidirectional),
  rnn_tanh: (o) => rnnParamShapes(o.I, o.H, o.L, o.bidirectional),
  rnn_relu: (o) => rnnParamShapes(o.I, o.H, o.L, o.bidirectional),
};

const B = 37; // 5 tiles of 8 rows (AVX-512) or 10 of 4 (AVX2), the last one short
const cases: (ProblemShape & { name: string })[] = [
  { name: '1 layer, h0', I: 12, H: 96, L: 1, bidirectional: false, B, T: 6, h0: true, paramScale: 0.15 },
  {
    name: '2 layers bidirectional, ragged',
    I: 10, H: 64, L: 2, bidirectional: true, B, T: 5, h0: true, paramScale: 0.2,
    lengths: Array.from({ length: B }, (_, b) => 5 - (b % 6)),
  },
  // Training state of 64·40·128 floats per block, 7.9 MB in all: streamed.
  { name: 'outputs streamed, split by samples', I: 16, H: 128, L: 1, bidirectional: false, B: 64, T: 40, h0: true, paramScale: 0.1 },
  // W_hh of H 512 (3 MiB for the GRU): split by hidden units; input projection 16·30·3·512 floats.
  {
    name: 'outputs and projection streamed, split by units, ragged',
    I: 8, H: 512, L: 1, bidirectional: false, B: 16, T: 30, h0: false, paramScale: 0.05,
    lengths: Array.from({ length: 16 }, (_, b) => 30 - (b % 3)),
  },
];

/** Output, hN and every gradient of a training forward and backward on `threads` threads. */
function run(mode: Mode, cs: ProblemShape, p: RefProblem, threads: number): Record<string, Float32Array> {
  const before = getNumThreads();
  setNumThreads(threads);
  try {
    const e = toEngine(p, 'cpu');
    const res = runMode(mode, e.x, e.params, {
      hiddenSize: cs.H, numLayers: cs.L, bidirectional: cs.bidirectional, h0: e.h0, c0: e.c0, lengths: cs.lengths, training: true,
    });
    const g = mode === 'lstm' ? res.backward(e.dy, e.dhN, e.dcN) : res.backward(e.dy, e.dhN);
    const out: Record<string, Float32Array> = {
      output: res.output.dataSync() as Float32Array,
      hN: res.hN.dataSync() as Float32Array,
      dx: g.dx.dataSync() as Float32Array,
      dh0: g.dh0.dataSync() as Float32Array,
    };
    for (const [name, t] of Object.entries(g.dParams)) out[`d${name}`] = t.dataSync() as Float32Array;
    disposeAll(res, g, e);
    return out;
  } finally {
    setNumThreads(before);
  }
}

describe('CPU time loops: split by samples or units, outputs streamed', () => {
  for (const mode of Object.keys(paramShapes) as Mode[]) {
    cases.forEach((cs, i) => {
      it(`${mode}: ${cs.name}: the float64 reference, and one thread's values bit for bit`, () => {
        const tensorsBefore = memory().numTensors;
        const p = randomProblem(mode, 500 + i, cs, paramShapes[mode](cs));
        const ref = refForward(p);
        const split = run(mode, cs, p, 2);
        const single = run(mode, cs, p, 1);
        assertClose(split.output!, ref.y, 1e-5, 'output vs float64 reference');
        assertClose(split.hN!, ref.hN, 1e-5, 'hN vs float64 reference');
        // What the packed kernels compute alone (the time loops, dX) is the same bit for bit; the
        // weight gradients run on BLAS, whose rounding may follow its thread count.
        for (const name of ['output', 'hN', 'dh0', 'dx']) assert.deepEqual(split[name], single[name], `${name}: 2 threads vs 1`);
        for (const name of Object.keys(single)) assertClose(split[name]!, single[name]!, 1e-6, `${name}: 2 threads vs 1`);
        assert.equal(memory().numTensors, tensorsBefore);
      });
    });
  }
});
