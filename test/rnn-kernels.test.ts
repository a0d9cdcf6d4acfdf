// The CPU engine's two forward paths agree for every cell: the packed SIMD kernels (where the CPU
// has them) and the BLAS path that CGRU_GRU_KERNEL=blas forces. Sizes are chosen to hit partial
// panels (H not a multiple of 8) and every tile remainder (B not a multiple of the rows per tile).
// Both paths are also checked against PyTorch and finite differences in the op suites; this one
// makes a normal `npm test` run both whatever the environment says.
import assert from 'node:assert/strict';
import { ops, tidy, type Tensor } from '../lib';
import { assertClose, randomProblem, runMode, toEngine, type Mode } from './support/recurrent';

const shapesOf = { gru: ops.gruParamShapes, lstm: ops.lstmParamShapes, rnn_tanh: ops.rnnParamShapes, rnn_relu: ops.rnnParamShapes };

function withKernel<T>(kernel: 'blas' | undefined, fn: () => T): T {
  const before = process.env.CGRU_GRU_KERNEL;
  if (kernel) process.env.CGRU_GRU_KERNEL = kernel;
  else delete process.env.CGRU_GRU_KERNEL;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env.CGRU_GRU_KERNEL;
    else process.env.CGRU_GRU_KERNEL = before;
  }
}

describe('CPU engine: packed kernels and the BLAS path agree', () => {
  for (const mode of ['gru', 'lstm', 'rnn_tanh', 'rnn_relu'] as const satisfies readonly Mode[]) {
    // H 48 / 96 and 64 / 128: the backward's W_hhᵀ packed in 3 and 4 column blocks; B 33 and 16:
    // big enough for two threads. Their weights have PyTorch's scale, 1/√H (0.6 at H 128 saturates
    // the tanh RNN, where the two paths' summation orders then differ by 1.5e-5 in y).
    for (const [B, H] of [[5, 20], [7, 33], [2, 8], [3, 48], [9, 64], [33, 96], [16, 128]] as const) {
      it(`${mode}, batch ${B}, hidden ${H}, 2 layers bidirectional, ragged`, () => {
        const o = { I: 6, H, L: 2, bidirectional: true, B, T: 5, lengths: Array.from({ length: B }, (_, b) => (b * 3) % 6), h0: true, ...(H >= 48 ? { paramScale: 1 / Math.sqrt(H) } : {}) };
        const p = randomProblem(mode, 77 + B + H, o, shapesOf[mode](o.I, H, 2, true));
        const run = (kernel: 'blas' | undefined) =>
          withKernel(kernel, () =>
            tidy(() => {
              const e = toEngine(p, 'cpu');
              const opts = { numLayers: 2, bidirectional: true, h0: e.h0, lengths: o.lengths, ...(mode === 'lstm' ? { c0: e.c0 } : {}) };
              const res = runMode(mode, e.x, e.params, { ...opts, training: true });
              const g = res.backward(e.dy, e.dhN, mode === 'lstm' ? e.dcN : null);
              const read = (t: Tensor | undefined) => (t ? Array.from(t.dataSync()) : []);
              return { y: read(res.output), hN: read(res.hN), cN: read(res.cN), dx: read(g.dx), dh0: read(g.dh0), dc0: read(g.dc0), dW: read(g.dParams.weight_hh_l0) };
            }),
          );
        const packed = run(undefined);
        const blas = run('blas');
        for (const key of Object.keys(blas) as (keyof typeof blas)[]) assertClose(packed[key], blas[key], 1e-5, key);
      });
    }
  }
});
