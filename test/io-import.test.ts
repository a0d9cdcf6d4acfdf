// Framework weights: a PyTorch state dict (safetensors) and Keras .weights.h5 files read into our
// layouts give the frameworks' own outputs when run through our GRU engine.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ops, tensor, tidy } from '../lib';
import { assignModules, type LayerSlot } from '../lib/io/assign';
import { readKerasModules, readTorchModules, type ImportedDense, type ImportedGru } from '../lib/io/frameworks';
import { Hdf5File } from '../lib/io/hdf5';
import { gruParamShapes } from '../lib/ops/gru';
import { writeSafetensors } from '../lib/io/safetensors';
import { refDense } from './io-helpers/reference';
import { tempDir } from './support/temp-dir';

const FIX = path.join(__dirname, 'fixtures', 'torch_import');

function gruForward(m: ImportedGru, x: Float32Array, shape: number[]): { y: Float32Array; h: Float32Array } {
  return tidy(() => {
    const params = Object.fromEntries(Object.entries(m.params).map(([k, v]) => [k, tensor(v, k.startsWith('bias') ? [v.length] : [3 * m.hiddenSize, v.length / (3 * m.hiddenSize)], 'float32', { device: 'cpu' })]));
    const r = ops.gru(tensor(x, shape, 'float32', { device: 'cpu' }), params, { numLayers: m.numLayers, bidirectional: m.bidirectional });
    return { y: r.output.dataSync() as Float32Array, h: r.hN.dataSync() as Float32Array };
  });
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('io: PyTorch state dict import', () => {
  const fx = JSON.parse(fs.readFileSync(path.join(FIX, 'gru_model.json'), 'utf8'));

  it('reads nn.GRU (2 layers, bidirectional) and nn.Linear modules with their shapes', () => {
    const mods = readTorchModules(path.join(FIX, 'gru_model.safetensors'));
    assert.deepEqual(mods.map((m) => [m.kind, m.family, m.name]), [['gru', 'bidirectional', 'gru'], ['dense', 'linear', 'head']]);
    const g = mods[0] as ImportedGru;
    assert.deepEqual([g.inputSize, g.hiddenSize, g.numLayers, g.bidirectional], [5, 4, 2, true]);
    const d = mods[1] as ImportedDense;
    assert.deepEqual([d.inputSize, d.units], [8, 3]);
  });

  it("gives PyTorch's outputs through our GRU engine (≤ 1e-5)", () => {
    const [g, d] = readTorchModules(path.join(FIX, 'gru_model.safetensors')) as [ImportedGru, ImportedDense];
    const x = Float32Array.from(fx.x.values);
    const { y, h } = gruForward(g, x, fx.x.shape);
    assert.ok(maxDiff(y, fx.gruOutput.values) < 1e-5, `gru output differs by ${maxDiff(y, fx.gruOutput.values)}`);
    assert.ok(maxDiff(h, fx.hN.values) < 1e-5);
    const [B, T] = fx.x.shape;
    const out: number[] = [];
    for (let i = 0; i < B * T; i++) out.push(...refDense(Array.from(y.subarray(i * 8, i * 8 + 8)), d.kernel, d.bias, 8, 3, 'keras'));
    assert.ok(maxDiff(out, fx.output.values) < 1e-5);
    assert.ok(maxDiff(out, fx.output64.values) < 1e-5);
  });

  it('handles bias-free modules and natural order of nn.Sequential indices', () => {
    const dir = tempDir('cdcgru-imp-');
    const f = path.join(dir, 's.safetensors');
    const H = 2, I = 3;
    writeSafetensors(f, {
      '10.weight': { shape: [1, 2], data: new Float32Array(2) },
      '2.weight_ih_l0': { shape: [3 * H, I], data: new Float32Array(3 * H * I) },
      '2.weight_hh_l0': { shape: [3 * H, H], data: new Float32Array(3 * H * H) },
      '9.weight': { shape: [2, 2], data: new Float32Array(4) },
      '9.bias': { shape: [2], data: new Float32Array(2) },
    });
    const mods = readTorchModules(f);
    assert.deepEqual(mods.map((m) => m.name), ['2', '9', '10']);
    assert.deepEqual(Array.from((mods[0] as ImportedGru).params.bias_ih_l0), [0, 0, 0, 0, 0, 0]);
  });

  it('rejects unknown tensors and wrong shapes, naming them', () => {
    const dir = tempDir('cdcgru-imp-');
    const f = path.join(dir, 'bad.safetensors');
    writeSafetensors(f, { 'conv.kernel': { shape: [1], data: new Float32Array(1) } });
    assert.throws(() => readTorchModules(f), /loadWeights: .*bad\.safetensors: tensor 'conv\.kernel' belongs to no supported module/);
    writeSafetensors(f, {
      'rnn.weight_ih_l0': { shape: [6, 3], data: new Float32Array(18) },
      'rnn.weight_hh_l0': { shape: [6, 2], data: new Float32Array(12) },
      'rnn.bias_ih_l0': { shape: [5], data: new Float32Array(5) },
    });
    assert.throws(() => readTorchModules(f), /nn\.GRU 'rnn': rnn\.bias_ih_l0 has shape \[5\], expected \[6\]/);
    writeSafetensors(f, { 'fc.weight': { shape: [2, 3], data: new Int32Array(6) } });
    assert.throws(() => readTorchModules(f), /tensor 'fc\.weight' has dtype I32/);
  });
});

describe('io: assigning imported modules to layers', () => {
  const file = path.join(FIX, 'gru_model.safetensors');
  const slots = (): LayerSlot[] => [
    { name: 'gru_1', family: 'bidirectional', numLayers: 2, shapes: gruParamShapes(5, 4, 2, true) },
    { name: 'dense_1', family: 'time_distributed', shapes: { kernel: [8, 3], bias: [3] } },
  ];

  it('fills layers in order within each family, with our names', () => {
    const v = assignModules(slots(), readTorchModules(file), { format: 'torch', source: file });
    assert.deepEqual(Object.keys(v.get('gru_1')!).sort(), Object.keys(gruParamShapes(5, 4, 2, true)).sort());
    assert.equal(v.get('dense_1')!.kernel.length, 24);
  });

  it('an explicit mapping overrides the order; errors name layer, module and shapes', () => {
    const mods = readTorchModules(file);
    assert.ok(assignModules(slots(), mods, { format: 'torch', mapping: { dense_1: 'head', gru_1: 'gru' } }).has('dense_1'));
    assert.throws(() => assignModules(slots(), mods, { format: 'torch', mapping: { nope: 'head' }, source: 'f' }), /mapping names layer 'nope', which the model does not have/);
    assert.throws(() => assignModules(slots(), mods, { format: 'torch', mapping: { dense_1: 'nope' }, source: 'f' }), /module 'nope', which the file does not have \(modules: gru \(bidirectional\), head \(linear\)\)/);
    const wrong = slots();
    wrong[1].shapes.kernel = [8, 2];
    assert.throws(() => assignModules(wrong, mods, { format: 'torch', source: 'f' }), /layer 'dense_1' kernel has shape \[8,2\] but module 'head' maps 8 inputs to 3 units \(nn\.Linear weight \[3, 8\]\)/);
    assert.throws(() => assignModules([slots()[1]], mods, { format: 'torch', source: 'f' }), /modules left over after filling every layer: gru \(bidirectional\)/);
    assert.throws(() => assignModules([{ name: 'g', family: 'gru', shapes: gruParamShapes(5, 4) }, slots()[1]], mods, { format: 'torch', source: 'f' }), /no gru module left for layer 'g'/);
    const one = slots();
    one[0] = { name: 'gru_1', family: 'bidirectional', numLayers: 1, shapes: gruParamShapes(5, 4, 1, true) };
    assert.throws(() => assignModules(one, mods, { format: 'torch', source: 'f' }), /layer 'gru_1' has 1 GRU layer but module\(s\) 'gru' have 2/);
  });
});

describe('io: Keras .weights.h5 import (fixture written by real Keras 3)', () => {
  const KFIX = path.join(__dirname, 'fixtures', 'keras');
  const fx = JSON.parse(fs.readFileSync(path.join(KFIX, 'model.json'), 'utf8'));
  const file = path.join(KFIX, 'model.weights.h5');

  it('the HDF5 reader gives every array Keras wrote, exactly', () => {
    const h5 = Hdf5File.open(file);
    for (const [p, arr] of Object.entries<{ shape: number[]; data: number[] }>(fx.kerasArrays)) {
      const d = h5.root.get(p);
      assert.ok(d && d.kind === 'dataset', p);
      assert.deepEqual(d.shape, arr.shape, p);
      assert.deepEqual(Array.from(d.read() as Float32Array), arr.data.map(Math.fround), p);
    }
  });

  it('converts Bidirectional(GRU), GRU and Dense into our layouts exactly', () => {
    const mods = readKerasModules(file);
    assert.deepEqual(mods.map((m) => [m.kind, m.family, m.name]), [['gru', 'bidirectional', 'bidirectional'], ['dense', 'dense', 'dense'], ['gru', 'gru', 'gru']]);
    const byName = Object.fromEntries(mods.map((m) => [m.name, m]));
    for (const name of ['bidirectional', 'gru']) {
      const g = byName[name] as ImportedGru;
      for (const [k, v] of Object.entries<{ data: number[] }>(fx.canonicalParams[name])) assert.deepEqual(Array.from(g.params[k]), v.data.map(Math.fround), `${name}.${k}`);
    }
    const d = byName.dense as ImportedDense;
    assert.deepEqual(Array.from(d.kernel), fx.canonicalParams.dense.kernel.data.map(Math.fround));
    assert.deepEqual(Array.from(d.bias!), fx.canonicalParams.dense.bias.data.map(Math.fround));
  });

  it("gives Keras' outputs through our GRU engine (≤ 1e-5)", () => {
    const mods = readKerasModules(file);
    const slots: LayerSlot[] = [
      { name: 'bi', family: 'bidirectional', shapes: gruParamShapes(3, 3, 1, true) },
      { name: 'g', family: 'gru', shapes: gruParamShapes(6, 4) },
      { name: 'd', family: 'dense', shapes: { kernel: [4, 2], bias: [2] } },
    ];
    const v = assignModules(slots, mods, { format: 'keras', source: file });
    const bi = gruForward({ kind: 'gru', family: 'bidirectional', name: 'bi', inputSize: 3, hiddenSize: 3, numLayers: 1, bidirectional: true, params: v.get('bi')! }, Float32Array.from(fx.x.data), fx.x.shape);
    assert.ok(maxDiff(bi.y, fx.sequenceOutputOfBidirectional.data) < 1e-5);
    const g = gruForward({ kind: 'gru', family: 'gru', name: 'g', inputSize: 6, hiddenSize: 4, numLayers: 1, bidirectional: false, params: v.get('g')! }, bi.y, [2, 5, 6]);
    const out: number[] = [];
    for (let b = 0; b < 2; b++) out.push(...refDense(Array.from(g.h.subarray(b * 4, b * 4 + 4)), v.get('d')!.kernel, v.get('d')!.bias, 4, 2, 'keras'));
    assert.ok(maxDiff(out, fx.y.data) < 1e-5, `max diff ${maxDiff(out, fx.y.data)}`);
  });

  it('refuses GRU(reset_after=False) with an explanation', () => {
    assert.throws(() => readKerasModules(path.join(KFIX, 'model_reset_before.weights.h5')), /model_reset_before\.weights\.h5: .*reset_after=False .* cuDNN's GRU \(and this library\) cannot compute\. Rebuild it in Keras with GRU\(\.\.\., reset_after=True\)/);
  });

  it('refuses files that are not Keras 3 weights', () => {
    assert.throws(() => readKerasModules(path.join(__dirname, 'fixtures', 'hdf5', 'chunked.h5')), /no \/layers group: not a Keras 3 \.weights\.h5 file/);
  });
});
