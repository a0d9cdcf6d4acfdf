// ONNX export of functional graphs: models with several inputs and outputs, merges, shared
// layers, nested models, recurrent initial and returned states (GRU and LSTM encoder-decoders),
// the bidirectional wrapper, repeatVector/reshape/flatten, embeddings, masking on padded input
// (sequence_lens), LSTM and SimpleRNN layers run in onnxruntime-node and match model.predict() to
// 1e-5 (random weights, so that biases and gates all matter). LSTM and RNN specs built from
// PyTorch-layout params match ops.lstm / ops.rnn. A small protobuf reader here checks the file
// itself: graph input and output names, node inputs, and that a shared layer's weights are
// written once. Tensor counts return to baseline.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Sequential, input, layers, memory, model, ops, sequential, setSeed, tensor, tidy, type Model, type SymbolicTensor, type Tensor } from '../lib';
import { lstmParamShapes } from '../lib/ops/lstm';
import { rnnParamShapes } from '../lib/ops/rnn';
import { Layer, type LayerShape } from '../lib/layers';
import { buildOnnxGraph, type OnnxLayerSpec } from '../lib/io/onnx';
import { rand } from './io-helpers/reference';
import { disposeModelsAfterEach } from './support/models';
import { onlyWhere, pythonCannotImport } from './support/skip';
import { tempDir } from './support/temp-dir';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort: typeof import('onnxruntime-node') | null = (() => { try { return require('onnxruntime-node'); } catch { return null; } })();

const B = 3, T = 5, F = 4;
type Feed = { data: Float32Array | Int32Array; shape: number[] };
const floats = (shape: number[], seed: number): Feed => ({ data: rand(shape.reduce((a, b) => a * b, 1), seed, 1.2), shape });

// ------------------------------------------------------------------ reading the written file

/** Length-delimited and varint fields of one protobuf message: field number → values. */
function fields(buf: Uint8Array): Map<number, Array<Uint8Array | bigint>> {
  const out = new Map<number, Array<Uint8Array | bigint>>();
  let pos = 0;
  const varint = (): bigint => {
    let v = 0n, shift = 0n;
    for (;;) {
      const b = buf[pos++]!;
      v |= BigInt(b & 127) << shift;
      if (b < 128) return v;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const tag = Number(varint());
    const field = tag >> 3;
    let value: Uint8Array | bigint;
    switch (tag & 7) {
      case 0: value = varint(); break;
      case 2: { const n = Number(varint()); value = buf.subarray(pos, pos + n); pos += n; break; }
      case 5: value = buf.subarray(pos, pos + 4); pos += 4; break;
      case 1: value = buf.subarray(pos, pos + 8); pos += 8; break;
      default: throw new Error(`wire type ${tag & 7}`);
    }
    if (!out.has(field)) out.set(field, []);
    out.get(field)!.push(value);
  }
  return out;
}

const text = (b: Uint8Array | bigint) => new TextDecoder().decode(b as Uint8Array);

/** The graph's input, output and initializer names, and each node's op type and inputs (ModelProto.graph). */
function readGraph(bytes: Uint8Array): { inputs: string[]; outputs: string[]; initializers: string[]; nodes: Array<{ op: string; inputs: string[] }> } {
  const graph = fields(fields(bytes).get(7)![0] as Uint8Array);
  const names = (field: number, nameField: number) => (graph.get(field) ?? []).map((m) => text(fields(m as Uint8Array).get(nameField)![0]!));
  const nodes = (graph.get(1) ?? []).map((m) => {
    const f = fields(m as Uint8Array);
    return { op: text(f.get(4)![0]!), inputs: (f.get(1) ?? []).map(text) };
  });
  return { inputs: names(11, 1), outputs: names(12, 1), initializers: names(5, 8), nodes };
}

// ------------------------------------------------------------------ running both

function randomizeWeights(m: Model | Sequential, seed: number): void {
  m.setWeights(m.getWeights().map((w, k) => rand(w.length, seed + k, 0.5)));
}

/** Exports `m`, runs the file in onnxruntime on `xs` and compares every output with predict() (≤ 1e-5). */
async function exportAndCompare(model: Model | Sequential, xs: Feed[], tol = 1e-5): Promise<Uint8Array> {
  // a Sequential model's graph takes 'input' and gives 'output'
  const m = model instanceof Sequential ? { inputNames: ['input'], outputNames: ['output'] } : model;
  const before = memory().numTensors;
  const file = path.join(tempDir('cdcgru-onnx-graph-'), 'm.onnx');
  model.exportOnnx(file);
  assert.equal(memory().numTensors, before, 'exportOnnx leaves no tensors behind');
  const bytes = fs.readFileSync(file);
  const session = await ort!.InferenceSession.create(bytes);
  assert.deepEqual([...session.inputNames], m.inputNames);
  assert.deepEqual([...session.outputNames], m.outputNames);
  const feeds = Object.fromEntries(xs.map((x, i) => [m.inputNames[i]!, new ort!.Tensor(x.data instanceof Int32Array ? 'int32' : 'float32', x.data, x.shape)]));
  const got = await session.run(feeds);
  const predicted = model instanceof Sequential ? model.predict(xs[0]!) : model.predict(xs.length === 1 ? xs[0]! : xs);
  const list = Array.isArray(predicted) ? predicted : [predicted];
  const want = list.map((p) => ({ shape: [...p.shape], data: p.dataSync() }));
  list.forEach((p) => p.dispose());
  assert.equal(want.length, m.outputNames.length);
  want.forEach((p, k) => {
    const o = got[m.outputNames[k]!]!;
    assert.deepEqual([...o.dims], p.shape, `${m.outputNames[k]}: shape`);
    const have = o.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < p.data.length; i++) worst = Math.max(worst, Math.abs(have[i]! - p.data[i]!));
    assert.ok(worst <= tol, `${m.outputNames[k]}: max |onnxruntime − predict| = ${worst}`);
  });
  assert.equal(memory().numTensors, before, 'tensor count back at baseline');
  return bytes;
}

onlyWhere(describe, ort ? null : 'onnxruntime-node (a devDependency) does not load')('io: ONNX export of functional graphs (onnxruntime-node vs predict)', () => {
  const made = disposeModelsAfterEach<{ dispose(): void }>();
  const keep = <M extends { dispose(): void }>(m: M): M => (made.push(m), m);

  it('two inputs (a sequence and static features) and two outputs, merged with concatenate', async () => {
    setSeed(31);
    const seq = input({ shape: [null, F], name: 'sequence' });
    const stat = input({ shape: [2], name: 'static' });
    const h = layers.gru({ units: 6, name: 'encoder' }).apply(seq) as SymbolicTensor;
    const s = layers.dense({ units: 3, activation: 'relu', name: 'static_proj' }).apply(stat) as SymbolicTensor;
    const joined = layers.concatenate({ name: 'joined' }).apply([h, s]) as SymbolicTensor;
    const main = layers.dense({ units: 2, activation: 'softmax', name: 'main' }).apply(joined) as SymbolicTensor;
    const aux = layers.dense({ units: 1, name: 'aux' }).apply(h) as SymbolicTensor;
    const m = keep(model({ inputs: [seq, stat], outputs: [main, aux] }));
    randomizeWeights(m, 100);
    const bytes = await exportAndCompare(m, [floats([B, T, F], 1), floats([B, 2], 2)]);
    const g = readGraph(bytes);
    assert.deepEqual(g.inputs, ['sequence', 'static']);
    assert.deepEqual(g.outputs, ['main', 'aux']);
  });

  it('GRU encoder-decoder: the encoder\'s returned state is the decoder\'s initialState; states as outputs', async () => {
    setSeed(32);
    const H = 5;
    const encIn = input({ shape: [null, F], name: 'source' });
    const decIn = input({ shape: [null, 3], name: 'target_in' });
    const [, state] = layers.gru({ units: H, returnState: true, name: 'enc' }).apply(encIn) as SymbolicTensor[];
    const [decSeq, decState] = layers.gru({ units: H, returnSequences: true, returnState: true, name: 'dec' }).apply([decIn, state!]) as SymbolicTensor[];
    const probs = layers.timeDistributed({ layer: layers.dense({ units: 3, activation: 'softmax' }), name: 'probs' }).apply(decSeq!) as SymbolicTensor;
    const m = keep(model({ inputs: [encIn, decIn], outputs: [probs, decState!] }));
    randomizeWeights(m, 200);
    const bytes = await exportAndCompare(m, [floats([B, T, F], 3), floats([B, 4, 3], 4)]);
    // The decoder's GRU takes initial_h (its 6th input), and the state output comes from Y_h.
    const dec = readGraph(bytes).nodes.filter((n) => n.op === 'GRU');
    assert.equal(dec.length, 2);
    assert.equal(dec[0]!.inputs.length, 4, 'the encoder starts from zeros');
    assert.equal(dec[1]!.inputs.length, 6);
    assert.equal(dec[1]!.inputs[4], '', 'no sequence_lens');
  });

  it('bidirectional encoder states feed a 2-layer decoder (one state per layer); goBackwards with an initial state', async () => {
    setSeed(33);
    const H = 4;
    const encIn = input({ shape: [T, F] });
    const decIn = input({ shape: [T, 2] });
    const [encOut, hf, hb] = layers.bidirectional({ layer: layers.gru({ units: H, returnSequences: true, returnState: true }), mergeMode: 'ave' }).apply(encIn) as SymbolicTensor[];
    const dec = layers.gru({ units: H, numLayers: 2, returnSequences: true }).apply([decIn, hf!, hb!]) as SymbolicTensor;
    const back = layers.gru({ units: H, goBackwards: true, returnSequences: true }).apply([decIn, hf!]) as SymbolicTensor;
    const out = layers.add().apply([layers.multiply().apply([dec, back]) as SymbolicTensor, encOut!]) as SymbolicTensor;
    const m = keep(model({ inputs: [encIn, decIn], outputs: [out, hb!] }));
    randomizeWeights(m, 300);
    await exportAndCompare(m, [floats([B, T, F], 5), floats([B, T, 2], 6)]);
  });

  it('shared layers: one GRU and one dense applied to two inputs write one set of initializers', async () => {
    setSeed(34);
    const a = input({ shape: [T, F], name: 'a' });
    const b = input({ shape: [T, F], name: 'b' });
    const gru = layers.gru({ units: 3, name: 'shared_gru' });
    const head = layers.dense({ units: 2, activation: 'tanh', name: 'shared_head' });
    const ya = head.apply(gru.apply(a) as SymbolicTensor) as SymbolicTensor;
    const yb = head.apply(gru.apply(b) as SymbolicTensor) as SymbolicTensor;
    const m = keep(model({ inputs: [a, b], outputs: layers.average({ name: 'avg' }).apply([ya, yb]) as SymbolicTensor }));
    randomizeWeights(m, 400);
    const g = readGraph(await exportAndCompare(m, [floats([B, T, F], 7), floats([B, T, F], 8)]));
    const grus = g.nodes.filter((n) => n.op === 'GRU');
    assert.equal(grus.length, 2, 'two calls');
    assert.deepEqual(grus[0]!.inputs.slice(1), grus[1]!.inputs.slice(1), 'the same W, R, B initializers');
    const matmuls = g.nodes.filter((n) => n.op === 'MatMul');
    assert.equal(matmuls.length, 2);
    assert.equal(matmuls[0]!.inputs[1], matmuls[1]!.inputs[1]);
    assert.equal(g.initializers.filter((n) => /^shared_gru_l0_[WRB]$/.test(n)).length, 3);
    assert.equal(g.initializers.filter((n) => n.startsWith('shared_head_')).length, 2, 'kernel and bias once');
  });

  it('nested models (a functional one applied twice, a sequential one) export inlined, sharing weights', async () => {
    setSeed(35);
    const inner = (() => {
      const i = input({ shape: [T, F] });
      return keep(model({ inputs: i, outputs: layers.dense({ units: 2 }).apply(layers.gru({ units: 3, returnSequences: true }).apply(i) as SymbolicTensor) as SymbolicTensor, name: 'inner' }));
    })();
    const stack = keep(sequential([layers.flatten({ inputShape: [T, 2] }), layers.dense({ units: 4, activation: 'gelu' })]));
    const a = input({ shape: [T, F] });
    const b = input({ shape: [T, F] });
    const merged = layers.concatenate().apply([inner.apply(a) as SymbolicTensor, inner.apply(b) as SymbolicTensor]) as SymbolicTensor;
    const m = keep(model({ inputs: [a, b], outputs: [stack.apply(inner.apply(a) as SymbolicTensor), merged] }));
    randomizeWeights(m, 500);
    const g = readGraph(await exportAndCompare(m, [floats([B, T, F], 9), floats([B, T, F], 10)]));
    assert.equal(new Set(g.nodes.filter((n) => n.op === 'GRU').map((n) => n.inputs[1])).size, 1, 'three calls of the inner GRU, one W');
  });

  it('repeatVector, reshape and flatten around recurrent layers (an autoencoder-shaped graph); selectTimestep', async () => {
    setSeed(36);
    const i = input({ shape: [T, F] });
    const code = layers.gru({ units: 6 }).apply(i) as SymbolicTensor;
    const rep = layers.repeatVector({ n: 3 }).apply(code) as SymbolicTensor;
    const dec = layers.gru({ units: 4, returnSequences: true, bidirectional: true }).apply(rep) as SymbolicTensor; // [3, 8]
    const grid = layers.reshape({ targetShape: [6, 4] }).apply(dec) as SymbolicTensor;
    const again = layers.gru({ units: 2, returnSequences: true }).apply(grid) as SymbolicTensor; // [6, 2]
    const flat = layers.flatten().apply(again) as SymbolicTensor;
    const last = layers.selectTimestep({ index: -2 }).apply(rep) as SymbolicTensor;
    const m = keep(model({ inputs: i, outputs: [layers.dense({ units: 3 }).apply(flat) as SymbolicTensor, last, rep] }));
    randomizeWeights(m, 600);
    await exportAndCompare(m, [floats([B, T, F], 11)]);
  });

  it('layerNormalization (ONNX LayerNormalization): between stacked GRUs (time-major there), on static features, without gamma or beta', async () => {
    setSeed(38);
    const seq = input({ shape: [T, F] });
    const stat = input({ shape: [3] });
    const h = layers.gru({ units: 6, returnSequences: true }).apply(seq) as SymbolicTensor;
    const normed = layers.layerNormalization().apply(h) as SymbolicTensor;
    const last = layers.gru({ units: 5 }).apply(normed) as SymbolicTensor;
    const s = layers.layerNormalization({ center: false, epsilon: 0.1 }).apply(layers.dense({ units: 5 }).apply(stat) as SymbolicTensor) as SymbolicTensor;
    const joined = layers.layerNormalization({ scale: false }).apply(layers.add().apply([last, s]) as SymbolicTensor) as SymbolicTensor;
    const m = keep(model({ inputs: [seq, stat], outputs: [layers.dense({ units: 2 }).apply(joined) as SymbolicTensor, normed] }));
    randomizeWeights(m, 650);
    const bytes = await exportAndCompare(m, [floats([B, T, F], 13), floats([B, 3], 14)]);
    assert.equal(readGraph(bytes).nodes.filter((n) => n.op === 'LayerNormalization').length, 3);
    const file = path.join(tempDir('cdcgru-onnx-ln-'), 'old.onnx');
    assert.throws(() => m.exportOnnx(file, { opset: 16 }), /LayerNormalization needs opset ≥ 17, got 16/);
    assert.ok(!fs.existsSync(file), 'nothing written');
  });

  it('an embedding on an int32 input beside a float input; dropout is the identity', async () => {
    setSeed(37);
    const ids = input({ shape: [T], name: 'ids' });
    const feats = input({ shape: [T, 2], name: 'feats' });
    const e = layers.embedding({ inputDim: 9, outputDim: 3 }).apply(ids) as SymbolicTensor;
    const x = layers.concatenate().apply([e, feats]) as SymbolicTensor;
    const y = layers.gru({ units: 4 }).apply(layers.dropout({ rate: 0.3 }).apply(x) as SymbolicTensor) as SymbolicTensor;
    const m = keep(model({ inputs: [ids, feats], outputs: layers.dense({ units: 1, activation: 'sigmoid' }).apply(y) as SymbolicTensor }));
    randomizeWeights(m, 700);
    const tokens = { data: Int32Array.from({ length: B * T }, (_, k) => (k * 5 + 1) % 9), shape: [B, T] };
    await exportAndCompare(m, [tokens, floats([B, T, 2], 12)]);
  });

  it('LSTM encoder-decoder: the encoder\'s [h, c] start the decoder (initial_h, initial_c); its final h and c as outputs', async () => {
    setSeed(41);
    const H = 5;
    const src = input({ shape: [null, F], name: 'source' });
    const tgt = input({ shape: [null, 3], name: 'target_in' });
    const [, h, c] = layers.lstm({ units: H, returnState: true, name: 'enc' }).apply(src) as SymbolicTensor[];
    const [seq, hd, cd] = layers.lstm({ units: H, returnSequences: true, returnState: true, name: 'dec' }).apply([tgt, h!, c!]) as SymbolicTensor[];
    const probs = layers.dense({ units: 3, activation: 'softmax', name: 'probs' }).apply(seq!) as SymbolicTensor;
    const m = keep(model({ inputs: [src, tgt], outputs: [probs, hd!, cd!] }));
    randomizeWeights(m, 1000);
    const g = readGraph(await exportAndCompare(m, [floats([B, T, F], 16), floats([B, 4, 3], 17)]));
    const lstms = g.nodes.filter((n) => n.op === 'LSTM');
    assert.deepEqual(lstms.map((n) => n.inputs.length), [4, 7], 'the decoder takes sequence_lens (none), initial_h and initial_c');
  });

  it('LSTM: bidirectional encoder states (h, c per direction) start a 2-layer decoder; masking with a length-0 row; goBackwards; bidirectional wrapper', async () => {
    setSeed(42);
    const H = 3;
    const src = input({ shape: [T, F] });
    const tgt = input({ shape: [T, 2] });
    const [encSeq, hf, cf, hb, cb] = layers.bidirectional({ layer: layers.lstm({ units: H, returnSequences: true, returnState: true }), mergeMode: 'concat' }).apply(layers.masking().apply(src) as SymbolicTensor) as SymbolicTensor[];
    const maskedTgt = layers.masking({ maskValue: -1 }).apply(tgt) as SymbolicTensor;
    const dec = layers.lstm({ units: H, numLayers: 2, returnSequences: true }).apply([maskedTgt, hf!, cf!, hb!, cb!]) as SymbolicTensor;
    const back = layers.lstm({ units: H, goBackwards: true }).apply([maskedTgt, hb!, cb!]) as SymbolicTensor;
    const m = keep(model({ inputs: [src, tgt], outputs: [dec, back, encSeq!, cb!] }));
    randomizeWeights(m, 1100);
    const x = padded([5, 3, 1], F, 0, 18);
    const y = padded([4, 0, 2], 2, -1, 19);
    await exportAndCompare(m, [x, y]);
  });

  it('SimpleRNN (relu and tanh): stacked bidirectional on masked input, goBackwards from an initial state; a Sequential of LSTM → SimpleRNN → dense', async () => {
    setSeed(43);
    const i = input({ shape: [T, F] });
    const masked = layers.masking().apply(i) as SymbolicTensor;
    const [seq, sf, sb] = layers.simpleRNN({ units: 4, activation: 'relu', numLayers: 2, bidirectional: true, mergeMode: 'sum', returnSequences: true, returnState: true }).apply(masked) as SymbolicTensor[];
    const back = layers.simpleRNN({ units: 4, goBackwards: true, returnSequences: true }).apply([seq!, sb!]) as SymbolicTensor;
    const m = keep(model({ inputs: i, outputs: [back, sf!] }));
    randomizeWeights(m, 1200);
    await exportAndCompare(m, [padded([5, 2, 0], F, 0, 20)]);
    const s = keep(sequential([
      layers.lstm({ units: 5, returnSequences: true, inputShape: [null, F], initializer: 'pytorch' }),
      layers.simpleRNN({ units: 3, bidirectional: true, mergeMode: 'ave' }),
      layers.dense({ units: 2, activation: 'sigmoid' }),
    ]));
    randomizeWeights(s, 1300);
    await exportAndCompare(s, [floats([B, T, F], 21)]);
  });

  it('refuses what it cannot export, naming the layer and its class', () => {
    class Custom extends Layer {
      constructor() {
        super('Custom', { name: 'my_custom' }, { fn: 'custom', keys: [] });
      }
      protected doBuild(s: LayerShape): LayerShape {
        return s;
      }
      forward(x: Tensor): Tensor {
        return x;
      }
      backward(dy: Tensor): Tensor {
        return dy;
      }
    }
    const i = input({ shape: [T, F] });
    const j = input({ shape: [T, F] });
    const custom = keep(model({ inputs: [i, j], outputs: layers.add().apply([new Custom().apply(i) as SymbolicTensor, j]) as SymbolicTensor }));
    const file = path.join(tempDir('cdcgru-onnx-graph-'), 'm.onnx');
    assert.throws(() => custom.exportOnnx(file), /exportOnnx: layer 'my_custom' \(Custom\) has no ONNX export/);
    assert.ok(!fs.existsSync(file));
  });

  /** [B, T, F] rows right-padded with `pad` after each sample's length. */
  const padded = (lengths: number[], features: number, pad: number, seed: number): Feed => {
    const x = floats([lengths.length, T, features], seed);
    lengths.forEach((len, b) => x.data.fill(pad, (b * T + len) * features, (b + 1) * T * features));
    return x;
  };

  it('masking: padded steps are skipped as predict skips them (sequence_lens), stacked, bidirectional, goBackwards, a length-0 row', async () => {
    setSeed(39);
    const i = input({ shape: [T, F], name: 'x' });
    const m0 = layers.masking({ maskValue: -1 }).apply(i) as SymbolicTensor;
    const proj = layers.dense({ units: 3, activation: 'tanh' }).apply(m0) as SymbolicTensor; // lengths pass through dense
    const both = layers.gru({ units: 4, numLayers: 2, bidirectional: true, returnSequences: true }).apply(proj) as SymbolicTensor;
    const back = layers.gru({ units: 3, goBackwards: true, returnSequences: true }).apply(both) as SymbolicTensor;
    const last = layers.gru({ units: 2, goBackwards: true }).apply(m0) as SymbolicTensor;
    const m = keep(model({ inputs: i, outputs: [layers.dense({ units: 2 }).apply(back) as SymbolicTensor, last] }));
    randomizeWeights(m, 800);
    const x = padded([5, 2, 0], F, -1, 14);
    const bytes = await exportAndCompare(m, [x]);
    assert.ok(readGraph(bytes).nodes.some((n) => n.op === 'ReverseSequence'), 'goBackwards reverses each valid prefix');
    // The mask matters: exported without it, the padded rows give other results.
    const file = path.join(tempDir('cdcgru-onnx-graph-'), 'unmasked.onnx');
    m.exportOnnx(file, { ignoreMasking: true });
    const plain = await (await ort!.InferenceSession.create(file)).run({ x: new ort!.Tensor('float32', x.data, x.shape) });
    const masked = await (await ort!.InferenceSession.create(bytes)).run({ x: new ort!.Tensor('float32', x.data, x.shape) });
    const key = m.outputNames[1]!;
    assert.ok(Math.abs((plain[key]!.data as Float32Array)[2 * 2]! - (masked[key]!.data as Float32Array)[2 * 2]!) > 1e-3);
  });

  it('maskZero embedding: lengths from trailing zero ids feed a GRU decoder that starts from an encoder state (a length-0 row keeps it)', async () => {
    setSeed(40);
    const src = input({ shape: [T, F], name: 'src' });
    const ids = input({ shape: [T], name: 'ids' });
    const [, state] = layers.gru({ units: 4, returnState: true }).apply(src) as SymbolicTensor[];
    const e = layers.embedding({ inputDim: 7, outputDim: 3, maskZero: true }).apply(ids) as SymbolicTensor;
    const [seq, h] = layers.gru({ units: 4, returnSequences: true, returnState: true }).apply([e, state!]) as SymbolicTensor[];
    const m = keep(model({ inputs: [src, ids], outputs: [layers.dense({ units: 2, activation: 'softmax' }).apply(seq!) as SymbolicTensor, h!] }));
    randomizeWeights(m, 900);
    // a 0 inside a sequence is a token; only trailing zeros are padding
    const tokens = { data: Int32Array.from([3, 0, 5, 0, 0, 1, 2, 3, 4, 6, 0, 0, 0, 0, 0]), shape: [B, T] };
    await exportAndCompare(m, [floats([B, T, F], 15), tokens]);
  });
});

interface RecurrentCase {
  type: 'lstm' | 'rnn';
  numLayers: number;
  bidirectional?: boolean;
  goBackwards?: boolean;
  activation?: 'tanh' | 'relu';
  initial?: boolean;
  /** With returnSequences false: the last state, directions merged so. */
  last?: 'concat' | 'sum';
}

const recurrentCases: RecurrentCase[] = [
  { type: 'lstm', numLayers: 1, initial: true },
  { type: 'lstm', numLayers: 2, bidirectional: true, initial: true },
  { type: 'lstm', numLayers: 2, goBackwards: true },
  { type: 'lstm', numLayers: 1, bidirectional: true, last: 'sum' },
  { type: 'rnn', numLayers: 2, bidirectional: true, initial: true },
  { type: 'rnn', numLayers: 1, activation: 'relu', goBackwards: true, initial: true },
  { type: 'rnn', numLayers: 2, activation: 'relu', last: 'concat' },
];

const describeCase = (c: RecurrentCase) => [
  c.type === 'rnn' ? `RNN (${c.activation ?? 'tanh'})` : 'LSTM', `${c.numLayers} layer${c.numLayers > 1 ? 's' : ''}`,
  c.bidirectional ? 'bidirectional' : '', c.goBackwards ? 'goBackwards' : '', c.initial ? 'initial states' : '', c.last ? `last state (${c.last})` : 'sequences and final states',
].filter(Boolean).join(', ');

// PyTorch-layout params straight into the specs: the ONNX LSTM (gates i, o, f, c) and RNN nodes
// against our engine's ops.lstm / ops.rnn (nn.LSTM / nn.RNN maths).
onlyWhere(describe, ort ? null : 'onnxruntime-node (a devDependency) does not load')('io: ONNX LSTM and RNN specs match ops.lstm / ops.rnn in onnxruntime-node', () => {
  const H = 4, Tn = 6;
  for (const c of recurrentCases) {
    it(describeCase(c), async () => {
      const before = memory().numTensors;
      const L = c.numLayers, D = c.bidirectional ? 2 : 1, S = c.type === 'lstm' ? 2 : 1;
      const shapes = (c.type === 'lstm' ? lstmParamShapes : rnnParamShapes)(F, H, L, !!c.bidirectional);
      const params = Object.fromEntries(Object.entries(shapes).map(([k, sh], i) => [k, rand(sh.reduce((a, b) => a * b, 1), 40 + i, 0.6)]));
      const x = floats([B, Tn, F], 13);
      const states = c.initial ? Array.from({ length: L * D * S }, (_, i) => floats([B, H], 60 + i)) : [];
      const returnSequences = !c.last;
      const spec = {
        type: c.type, inputSize: F, hiddenSize: H, numLayers: L, bidirectional: c.bidirectional, goBackwards: c.goBackwards,
        returnSequences, returnState: returnSequences, mergeMode: c.last === 'sum' ? 'sum' : 'concat', params, ...(c.type === 'rnn' ? { activation: c.activation } : {}),
      } as OnnxLayerSpec;
      const stateNames = states.map((_, i) => `s${i}`);
      const outNames = ['y', ...(returnSequences ? Array.from({ length: D * S }, (_, i) => `state${i}`) : [])];
      const bytes = buildOnnxGraph({
        inputs: [{ name: 'x', shape: [null, F] }, ...stateNames.map((name) => ({ name, shape: [H] }))],
        nodes: [{ spec, inputs: ['x', ...stateNames], outputs: outNames, name: c.type }],
        outputs: outNames.map((name) => ({ name, value: name })),
      });
      assert.equal(readGraph(bytes).nodes.filter((n) => n.op === (c.type === 'lstm' ? 'LSTM' : 'RNN')).length, L, 'one ONNX node per stacked layer');
      const session = await ort!.InferenceSession.create(bytes);
      const feeds = Object.fromEntries([['x', x], ...states.map((st, i) => [`s${i}`, st] as const)].map(([n, f]) => [n, new ort!.Tensor('float32', (f as Feed).data, (f as Feed).shape)]));
      const got = await session.run(feeds);
      // ours: goBackwards is the op on the time-reversed input (its outputs in processing order)
      const xs = c.goBackwards ? Float32Array.from({ length: B * Tn * F }, (_, k) => {
        const b = Math.floor(k / (Tn * F)), t = Math.floor(k / F) % Tn, f = k % F;
        return x.data[(b * Tn + (Tn - 1 - t)) * F + f]!;
      }) : (x.data as Float32Array);
      const want = tidy(() => {
        const p = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, tensor(v, shapes[k], 'float32', { device: 'cpu' })]));
        // initial states per layer and direction (h, c for each) packed as [L·D, B, H] per kind
        const packed = (k: number) => (states.length ? tensor(Float32Array.from({ length: L * D * B * H }, (_, i) => states[Math.floor(i / (B * H)) * S + k]!.data[i % (B * H)]!), [L * D, B, H], 'float32', { device: 'cpu' }) : undefined);
        const input = tensor(xs, [B, Tn, F], 'float32', { device: 'cpu' });
        const r = c.type === 'lstm'
          ? ops.lstm(input, p, { numLayers: L, bidirectional: c.bidirectional, h0: packed(0), c0: packed(1) })
          : ops.rnn(input, p, { numLayers: L, bidirectional: c.bidirectional, h0: packed(0), activation: c.activation });
        const hN = r.hN.dataSync(), cN = 'cN' in r ? (r.cN as Tensor).dataSync() : null;
        const final = (d: number, of: Float32Array | Int32Array) => Array.from(of.subarray(((L - 1) * D + d) * B * H, ((L - 1) * D + d + 1) * B * H));
        if (c.last) {
          // [B, D·H] (concat, forward first) or [B, H] (sum)
          const f = final(0, hN), bw = D === 2 ? final(1, hN) : null;
          const y = c.last === 'sum' && bw ? f.map((v, i) => v + bw[i]!) : Array.from({ length: B }, (_, b) => [f, ...(bw ? [bw] : [])].flatMap((s) => s.slice(b * H, (b + 1) * H))).flat();
          return [y];
        }
        return [Array.from(r.output.dataSync()), ...Array.from({ length: D }, (_, d) => [final(d, hN), ...(cN ? [final(d, cN)] : [])]).flat()];
      });
      assert.equal(memory().numTensors, before);
      assert.equal(want.length, outNames.length);
      want.forEach((w, k) => {
        const have = got[outNames[k]!]!.data as Float32Array;
        assert.equal(have.length, w.length, `${outNames[k]}: size`);
        let worst = 0;
        for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(have[i]! - w[i]!));
        assert.ok(worst <= 1e-5, `${outNames[k]}: max |onnxruntime − ops.${c.type}| = ${worst}`);
      });
    });
  }
});

describe('io: buildOnnxGraph refuses malformed graphs, naming the call', () => {
  const gru = (returnState: boolean): OnnxLayerSpec => ({ type: 'gru', inputSize: F, hiddenSize: 2, returnState, params: {} });
  const inputs = [{ name: 'x', shape: [T, F] }];
  const cases: Array<[string, Parameters<typeof buildOnnxGraph>[0], RegExp]> = [
    ['an unknown value', { inputs, nodes: [{ spec: { type: 'identity' }, inputs: ['y'], outputs: ['o'] }], outputs: [{ name: 'out', value: 'o' }] }, /node 0 \(identity\): input 'y' is neither a graph input nor an earlier call's output/],
    ['a merge of one input', { inputs, nodes: [{ spec: { type: 'merge', mode: 'add' }, inputs: ['x'], outputs: ['o'], name: 'sum' }], outputs: [{ name: 'out', value: 'o' }] }, /layer 'sum' \(merge\): takes two or more inputs, got 1/],
    ['returnState with one output named', { inputs, nodes: [{ spec: gru(true), inputs: ['x'], outputs: ['o'] }], outputs: [{ name: 'out', value: 'o' }] }, /node 0 \(gru\): gives 2 outputs, the call names 1/],
    ['initial states of the wrong count', { inputs: [...inputs, { name: 'h', shape: [2] }], nodes: [{ spec: gru(false), inputs: ['x', 'h', 'h'], outputs: ['o'] }], outputs: [{ name: 'out', value: 'o' }] }, /node 0 \(gru\): takes 1 initial states \(per layer and direction\), got 2/],
    ['a dense of the wrong width', { inputs, nodes: [{ spec: { type: 'dense', inputSize: 3, units: 1, kernel: new Float32Array(3) }, inputs: ['x'], outputs: ['o'] }], outputs: [{ name: 'out', value: 'o' }] }, /node 0 \(dense\): expects inputs with 3 features, got \[batch, 5, 4\]/],
    ['an embedding on floats', { inputs, nodes: [{ spec: { type: 'embedding', inputDim: 2, outputDim: 1, embeddings: new Float32Array(2) }, inputs: ['x'], outputs: ['o'] }], outputs: [{ name: 'out', value: 'o' }] }, /node 0 \(embedding\): takes int32 token ids, got a float32 input/],
    ['a value named twice', { inputs, nodes: [{ spec: { type: 'identity' }, inputs: ['x'], outputs: ['x'] }], outputs: [{ name: 'out', value: 'x' }] }, /node 0 \(identity\): output 'x' names a value that exists already/],
    ['an unknown output', { inputs, nodes: [], outputs: [{ name: 'out', value: 'z' }] }, /output 'out': 'z' is neither a graph input nor a call's output/],
    ['no outputs', { inputs, nodes: [], outputs: [] }, /the graph has no outputs/],
    ['an output named like an input', { inputs, nodes: [{ spec: { type: 'identity' }, inputs: ['x'], outputs: ['o'] }], outputs: [{ name: 'x', value: 'o' }] }, /output 'x' has the name of a graph input; give it another name/],
  ];
  for (const [what, graph, message] of cases) it(what, () => assert.throws(() => buildOnnxGraph(graph), message));
  it('checks its options', () => {
    assert.throws(() => buildOnnxGraph({ inputs, nodes: [], outputs: [] }, { opSet: 17 } as never), /buildOnnxGraph: unknown option 'opSet' \(did you mean 'opset'\?\)/);
    assert.throws(() => buildOnnxGraph({ inputs, nodes: [], outputs: [], extra: 1 } as never), /buildOnnxGraph: unknown option 'extra'/);
  });
});

onlyWhere(it, pythonCannotImport('onnx'))('io: an exported encoder-decoder graph with masks passes onnx.checker (full check, shape inference)', () => {
  setSeed(38);
  const encIn = input({ shape: [null, F] });
  const decIn = input({ shape: [null, 2] });
  const masked = layers.masking().apply(encIn) as SymbolicTensor;
  const [, hf, hb] = layers.gru({ units: 3, bidirectional: true, returnState: true }).apply(masked) as SymbolicTensor[];
  const dec = layers.gru({ units: 3, numLayers: 2, returnSequences: true, goBackwards: true }).apply([layers.masking().apply(decIn) as SymbolicTensor, hf!, hb!]) as SymbolicTensor;
  const m = model({ inputs: [encIn, decIn], outputs: [layers.dense({ units: 2 }).apply(dec) as SymbolicTensor, hf!] });
  const file = path.join(tempDir('cdcgru-onnx-graph-'), 'm.onnx');
  try {
    m.exportOnnx(file);
  } finally {
    m.dispose();
  }
  const py = spawnSync('python3', ['-c', 'import onnx,sys; m=onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print(len(m.graph.output))', file], { encoding: 'utf8' });
  assert.equal(py.status, 0, py.stderr);
  assert.equal(py.stdout.trim(), '2');
});
