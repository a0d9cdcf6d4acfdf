// ONNX export: models built from canonical GRU params run in onnxruntime-node and match a float64
// reference and our own engine (ops.gru) to 1e-5.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ops, tensor, tidy } from '../lib';
import { gruParamShapes } from '../lib/ops/gru';
import { buildOnnxModel, writeOnnxModel, type OnnxLayerSpec } from '../lib/io/onnx';
import { nest3, rand, refActivation, refDense, refGru } from './io-helpers/reference';
import { onlyWhere, pythonCannotImport } from './support/skip';
import { tempDir } from './support/temp-dir';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort: typeof import('onnxruntime-node') | null = (() => { try { return require('onnxruntime-node'); } catch { return null; } })();

let seed = 100;
function gruParams(inputSize: number, H: number, L: number, bidir: boolean): Record<string, Float32Array> {
  const shapes = gruParamShapes(inputSize, H, L, bidir);
  return Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, rand(s.reduce((a, b) => a * b, 1), seed++, 0.6)]));
}

async function runOrt(model: Uint8Array, x: Float32Array | Int32Array, dims: number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort!.InferenceSession.create(model);
  const feeds = { input: new ort!.Tensor(x instanceof Int32Array ? 'int32' : 'float32', x, dims) };
  const out = (await session.run(feeds)).output;
  return { data: out.data as Float32Array, dims: out.dims };
}

/** Float64 reference forward of a spec list (batch-major nested arrays). */
function refForward(layers: OnnxLayerSpec[], x: number[][][] | number[][]): number[] | number[][] | number[][][] {
  let cur: any = x;
  for (const s of layers) {
    if (s.type === 'identity') continue;
    if (s.type === 'embedding') cur = (cur as number[][]).map((seq) => seq.map((id) => Array.from(s.embeddings.subarray(id * s.outputDim, (id + 1) * s.outputDim))));
    else if (s.type === 'gru') {
      const { y, hN } = refGru(cur, s.params, s.hiddenSize, s.numLayers ?? 1, s.bidirectional ?? false, s.goBackwards ?? false);
      const D = s.bidirectional ? 2 : 1;
      const L = s.numLayers ?? 1;
      const merge = (a: number[], b: number[]): number[] => {
        switch (s.mergeMode ?? 'concat') {
          case 'concat': return [...a, ...b];
          case 'sum': return a.map((v, i) => v + b[i]);
          case 'mul': return a.map((v, i) => v * b[i]);
          case 'ave': return a.map((v, i) => (v + b[i]) / 2);
        }
      };
      const H = s.hiddenSize;
      if (s.returnSequences) {
        cur = D === 1 ? y : y.map((seq) => seq.map((v) => merge(v.slice(0, H), v.slice(H))));
        if (s.goBackwards) cur = cur.map((seq: number[][]) => [...seq].reverse());
      } else {
        const f = hN[(L - 1) * D];
        cur = D === 1 ? f : f.map((v, i) => merge(v, hN[(L - 1) * D + 1][i]));
      }
    } else if (s.type === 'selectTimestep') {
      cur = (cur as number[][][]).map((seq) => seq[s.index < 0 ? seq.length + s.index : s.index]);
    } else if (s.type === 'dense' || s.type === 'activation') {
      const apply = (v: number[]): number[] => s.type === 'dense'
        ? refActivation(refDense(v, s.kernel, s.bias ?? null, s.inputSize, s.units, 'keras'), s.activation ?? 'linear')
        : refActivation(v, s.activation);
      const walk = (a: any): any => (typeof a[0] === 'number' ? apply(a) : a.map(walk));
      cur = walk(cur);
    }
  }
  return cur;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const B = 3, T = 7, F = 4;
const x = rand(B * T * F, 7, 1.5);

const cases: { name: string; layers: () => OnnxLayerSpec[]; outDims: number[] }[] = [
  {
    name: 'stacked bidirectional GRU (2 fused layers) + time-distributed dense softmax',
    layers: () => [
      { type: 'gru', inputSize: F, hiddenSize: 5, numLayers: 2, bidirectional: true, returnSequences: true, params: gruParams(F, 5, 2, true) },
      { type: 'dense', inputSize: 10, units: 3, kernel: rand(30, seed++), bias: rand(3, seed++), activation: 'softmax' },
    ],
    outDims: [B, T, 3],
  },
  {
    name: 'GRU sequences → GRU last state → dense relu → dropout → sigmoid',
    layers: () => [
      { type: 'gru', inputSize: F, hiddenSize: 6, returnSequences: true, params: gruParams(F, 6, 1, false) },
      { type: 'gru', inputSize: 6, hiddenSize: 3, returnSequences: false, params: gruParams(6, 3, 1, false) },
      { type: 'dense', inputSize: 3, units: 2, kernel: rand(6, seed++), bias: rand(2, seed++), activation: 'relu' },
      { type: 'identity' },
      { type: 'activation', activation: 'sigmoid' },
    ],
    outDims: [B, 2],
  },
  {
    name: 'bidirectional last state, mergeMode sum; elu dense without bias',
    layers: () => [
      { type: 'gru', inputSize: F, hiddenSize: 4, bidirectional: true, mergeMode: 'sum', params: gruParams(F, 4, 1, true) },
      { type: 'dense', inputSize: 4, units: 2, kernel: rand(8, seed++), bias: null, activation: 'elu' },
    ],
    outDims: [B, 2],
  },
  {
    name: 'bidirectional sequences, mergeMode ave and mul',
    layers: () => [
      { type: 'gru', inputSize: F, hiddenSize: 4, bidirectional: true, mergeMode: 'ave', returnSequences: true, params: gruParams(F, 4, 1, true) },
      { type: 'gru', inputSize: 4, hiddenSize: 2, bidirectional: true, mergeMode: 'mul', returnSequences: true, params: gruParams(4, 2, 1, true) },
    ],
    outDims: [B, T, 2],
  },
  {
    name: 'goBackwards GRU sequences + swish, softplus',
    layers: () => [
      { type: 'gru', inputSize: F, hiddenSize: 3, goBackwards: true, returnSequences: true, params: gruParams(F, 3, 1, false) },
      { type: 'activation', activation: 'swish' },
      { type: 'dense', inputSize: 3, units: 2, kernel: rand(6, seed++), bias: rand(2, seed++), activation: 'softplus' },
    ],
    outDims: [B, T, 2],
  },
];

onlyWhere(describe, ort ? null : 'onnxruntime-node (a devDependency) does not load')('io: ONNX export runs in onnxruntime-node', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const layers = c.layers();
      const model = buildOnnxModel(layers, { inputShape: [null, F] });
      const out = await runOrt(model, x, [B, T, F]);
      assert.deepEqual([...out.dims], c.outDims);
      const ref = refForward(layers, nest3(x, B, T, F)).flat(3) as number[];
      assert.ok(maxDiff(out.data, ref) < 1e-5, `max |ort − ref| = ${maxDiff(out.data, ref)}`);
    });
  }

  it('embedding (int32 token ids) → GRU → dense, fixed sequence length', async () => {
    const vocab = 11, dim = 4;
    const layers: OnnxLayerSpec[] = [
      { type: 'embedding', inputDim: vocab, outputDim: dim, embeddings: rand(vocab * dim, seed++) },
      { type: 'gru', inputSize: dim, hiddenSize: 3, params: gruParams(dim, 3, 1, false) },
      { type: 'dense', inputSize: 3, units: 1, kernel: rand(3, seed++), bias: rand(1, seed++) },
    ];
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7) % vocab);
    const out = await runOrt(buildOnnxModel(layers, { inputShape: [T], inputDType: 'int32' }), ids, [B, T]);
    const idsNested = Array.from({ length: B }, (_, b) => Array.from(ids.subarray(b * T, (b + 1) * T)));
    const ref = (refForward(layers, idsNested) as number[][]).flat();
    assert.ok(maxDiff(out.data, ref) < 1e-5);
  });

  it('matches ops.gru (our CPU engine) to 1e-5, and the file written is the same model', async () => {
    const p = gruParams(F, 8, 2, true);
    const layers: OnnxLayerSpec[] = [{ type: 'gru', inputSize: F, hiddenSize: 8, numLayers: 2, bidirectional: true, returnSequences: true, params: p }];
    const file = path.join(tempDir('cdcgru-onnx-'), 'm.onnx');
    writeOnnxModel(file, layers, { inputShape: [T, F] });
    const out = await runOrt(fs.readFileSync(file), x, [B, T, F]);
    const ours = tidy(() => {
      const params = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, tensor(v, gruParamShapes(F, 8, 2, true)[k], 'float32', { device: 'cpu' })]));
      const r = ops.gru(tensor(x, [B, T, F], 'float32', { device: 'cpu' }), params, { numLayers: 2, bidirectional: true });
      return r.output.dataSync();
    });
    assert.ok(maxDiff(out.data, ours) < 1e-5, `max |ort − ours| = ${maxDiff(out.data, ours)}`);
  });

  it('refuses what it cannot export, naming the layer', () => {
    assert.throws(() => buildOnnxModel([{ type: 'activation', activation: 'bogus' as never }], { inputShape: [T, F] }), /exportOnnx: layer 0 \(activation\): activation "bogus" has no ONNX export/);
    assert.throws(() => buildOnnxModel([{ type: 'gru', inputSize: F, hiddenSize: 2, params: {} }], { inputShape: [T, F] }), /layer 0 \(gru\): parameter weight_ih_l0 is missing/);
    assert.throws(() => buildOnnxModel([{ type: 'dense', inputSize: 3, units: 2, kernel: new Float32Array(5) }], { inputShape: [T, 3] }), /layer 0 \(dense\): kernel has 5 values, expected 3·2/);
    assert.throws(() => buildOnnxModel([], { inputShape: [T, 3] }), /no layers/);
  });
});

onlyWhere(it, pythonCannotImport('onnx'))('io: ONNX export passes onnx.checker (full check, shape inference)', () => {
  const file = path.join(tempDir('cdcgru-onnx-'), 'm.onnx');
  writeOnnxModel(file, cases[0].layers(), { inputShape: [null, F] });
  const py = spawnSync('python3', ['-c', 'import onnx,sys; m=onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print(m.opset_import[0].version)', file], { encoding: 'utf8' });
  assert.equal(py.status, 0, py.stderr);
  assert.equal(py.stdout.trim(), '17');
});
