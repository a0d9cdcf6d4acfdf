// Child of test/cpu-isa.test.ts, run under one CUDNN_GRU_CPU_ISA: prints backendInfo().cpu and the
// results of one training forward + backward of every cell on shapes with partial panels and ragged
// lengths, as JSON on stdout.
import { backendInfo, ops, tidy, type Tensor } from '../../lib';
import { randomProblem, runMode, toEngine, type Mode } from './recurrent';

const shapesOf = { gru: ops.gruParamShapes, lstm: ops.lstmParamShapes, rnn_tanh: ops.rnnParamShapes, rnn_relu: ops.rnnParamShapes };
const results: Record<string, Record<string, number[]>> = {};
for (const mode of ['gru', 'lstm', 'rnn_tanh', 'rnn_relu'] as const satisfies readonly Mode[]) {
  for (const [B, H] of [[5, 20], [9, 40], [1, 16]] as const) {
    const o = { I: 7, H, L: 2, bidirectional: true, B, T: 6, lengths: Array.from({ length: B }, (_, b) => 6 - (b % 4)), h0: true };
    const p = randomProblem(mode, 31 + B + H, o, shapesOf[mode](o.I, H, 2, true));
    results[`${mode} B${B} H${H}`] = tidy(() => {
      const e = toEngine(p, 'cpu');
      const opts = { numLayers: 2, bidirectional: true, h0: e.h0, lengths: o.lengths, ...(mode === 'lstm' ? { c0: e.c0 } : {}) };
      const res = runMode(mode, e.x, e.params, { ...opts, training: true });
      const g = res.backward(e.dy, e.dhN, mode === 'lstm' ? e.dcN : null);
      const read = (t: Tensor | undefined) => (t ? Array.from(t.dataSync()) : []);
      return { y: read(res.output), hN: read(res.hN), dx: read(g.dx), dh0: read(g.dh0), dWih: read(g.dParams.weight_ih_l0), dWhh: read(g.dParams.weight_hh_l1_reverse) };
    });
  }
}
process.stdout.write(JSON.stringify({ cpu: backendInfo().cpu, results }));
