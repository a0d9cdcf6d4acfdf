// Framework weights: a PyTorch state dict (safetensors) and Keras .weights.h5 files read into our
// layouts give the frameworks' own outputs when run through our GRU engine.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ops, tensor, tidy } from '../lib';
import { readTorchModules, type ImportedDense, type ImportedGru } from '../lib/io/frameworks';
import { writeSafetensors } from '../lib/io/safetensors';
import { refDense } from './io-helpers/reference';

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
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdcgru-imp-'));
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
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdcgru-imp-'));
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
