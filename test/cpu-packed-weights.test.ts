// The CPU engine keeps each weight matrix's packing from one call to the next while its storage's
// version stays the same (native/cpu/gru_cpu.cpp, PackedWeights; native/core/storage.h): a
// forward after the weights were changed in place, by any of the ways a tensor is written, must
// use the new values, exactly as a forward on fresh tensors holding them.
import assert from 'node:assert/strict';
import { memory, tensor, type Tensor } from '../lib';
import { native } from '../lib/native';
import { axpy_, gru, gruParamShapes, lstm, lstmParamShapes, scale_, sgdUpdate_, writeFirst_, type GruParams } from '../lib/ops';

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

// Ways to change w in place, each with what it made (disposed after the forward).
const writers: Array<{ name: string; change: (w: Tensor, seed: number) => Tensor[] }> = [
  { name: 'axpy_', change: (w, seed) => {
    const delta = tensor(seeded(w.size, seed), w.shape);
    axpy_(w, 0.25, delta);
    return [delta];
  } },
  { name: 'scale_ through a reshape view', change: (w) => {
    const view = w.reshape([w.size]);
    scale_(view, 0.75);
    return [view];
  } },
  { name: 'sgdUpdate_', change: (w, seed) => {
    const grad = tensor(seeded(w.size, seed), w.shape);
    sgdUpdate_(w, grad, null, 0.5);
    return [grad];
  } },
  { name: 'writeFirst_ of one row', change: (w, seed) => {
    const row = tensor(seeded(w.shape[1]!, seed), [1, w.shape[1]!]);
    writeFirst_(w, row, 1);
    return [row];
  } },
  { name: 'a host write (setWeights, loadWeights)', change: (w, seed) => {
    native.write(w.handle(), seeded(w.size, seed));
    return [];
  } },
];

describe('CPU packed weights kept between calls', () => {
  for (const cell of cells) {
    for (const writer of writers) {
      it(`${cell.name}: a forward after ${writer.name} of weight_hh and weight_ih uses the new weights`, () => {
        const before = memory().numTensors;
        const [B, T, I, H] = [3, 5, 7, 20];
        const x = tensor(seeded(B * T * I, 99), [B, T, I]);
        const params = makeParams(cell.shapes(I, H, 2, true));
        const options = { hiddenSize: H, numLayers: 2, bidirectional: true };
        const first = cell.op(x, params, options);
        const again = cell.op(x, params, options);
        assert.deepEqual(again.output.dataSync(), first.output.dataSync(), 'same weights: same output');
        // Change the second layer's reverse recurrent matrix and the first layer's input one.
        const made = [...writer.change(params.weight_hh_l1_reverse!, 7), ...writer.change(params.weight_ih_l0!, 8)];
        const changed = cell.op(x, params, options);
        const fresh = copyOf(params);
        const reference = cell.op(x, fresh, options);
        assert.notDeepEqual(changed.output.dataSync(), first.output.dataSync(), 'the change reaches the output');
        assert.deepEqual(changed.output.dataSync(), reference.output.dataSync());
        assert.deepEqual(changed.hN.dataSync(), reference.hN.dataSync());
        for (const r of [first, again, changed, reference]) disposeAll([r.output, r.hN, (r as { cN?: Tensor }).cN]);
        disposeAll([x, ...made, ...Object.values(params), ...Object.values(fresh)]);
        assert.equal(memory().numTensors, before);
      });
    }
  }
});
