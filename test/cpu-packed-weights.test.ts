// The CPU engine keeps each weight matrix's packing from one call to the next while the weights
// stay bitwise the same (native/cpu/gru_cpu.cpp, PackedWeights): a forward after the weights were
// changed in place must use the new values, exactly as a forward on fresh tensors holding them.
import assert from 'node:assert/strict';
import { memory, tensor, type Tensor } from '../lib';
import { axpy_, gru, gruParamShapes, lstm, lstmParamShapes, type GruParams } from '../lib/ops';

function seeded(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 0.5;
  });
}

function makeParams(shapes: Record<string, number[]>): GruParams {
  let seed = 1;
  return Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, tensor(seeded(s.reduce((a, b) => a * b, 1), seed++), s)]));
}

const copyOf = (params: GruParams): GruParams => Object.fromEntries(Object.entries(params).map(([n, p]) => [n, tensor(p.dataSync(), p.shape)]));
const disposeAll = (ts: (Tensor | undefined)[]) => ts.forEach((t) => t?.dispose());

const cells = [
  { name: 'gru', op: gru, shapes: gruParamShapes },
  { name: 'lstm', op: lstm, shapes: lstmParamShapes },
] as const;

describe('CPU packed weights kept between calls', () => {
  for (const cell of cells) {
    it(`${cell.name}: a forward after an in-place change of weight_hh and weight_ih uses the new weights`, () => {
      const before = memory().numTensors;
      const [B, T, I, H] = [3, 5, 7, 20];
      const x = tensor(seeded(B * T * I, 99), [B, T, I]);
      const params = makeParams(cell.shapes(I, H, 2, true));
      const first = cell.op(x, params, { hiddenSize: H, numLayers: 2, bidirectional: true });
      const again = cell.op(x, params, { hiddenSize: H, numLayers: 2, bidirectional: true });
      assert.deepEqual(again.output.dataSync(), first.output.dataSync(), 'same weights: same output');
      // Change one element's worth of every matrix of the second layer's reverse direction in place.
      const delta = tensor(seeded(params.weight_hh_l1_reverse!.size, 7), params.weight_hh_l1_reverse!.shape);
      axpy_(params.weight_hh_l1_reverse!, 0.25, delta);
      const deltaIh = tensor(seeded(params.weight_ih_l0!.size, 8), params.weight_ih_l0!.shape);
      axpy_(params.weight_ih_l0!, 0.25, deltaIh);
      const changed = cell.op(x, params, { hiddenSize: H, numLayers: 2, bidirectional: true });
      const fresh = copyOf(params);
      const reference = cell.op(x, fresh, { hiddenSize: H, numLayers: 2, bidirectional: true });
      assert.notDeepEqual(changed.output.dataSync(), first.output.dataSync(), 'the change reaches the output');
      assert.deepEqual(changed.output.dataSync(), reference.output.dataSync());
      assert.deepEqual(changed.hN.dataSync(), reference.hN.dataSync());
      for (const r of [first, again, changed, reference]) disposeAll([r.output, r.hN, (r as { cN?: Tensor }).cN]);
      disposeAll([x, delta, deltaIh, ...Object.values(params), ...Object.values(fresh)]);
      assert.equal(memory().numTensors, before);
    });
  }
});
