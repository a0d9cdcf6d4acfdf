// ONNX export of sequential GRU models (ModelProto written with the small protobuf encoder).
//
// The model is described framework-neutrally as a list of layer specs (host arrays), so that this
// file does not depend on the model layer; lib/io/model-io.ts turns a Sequential model into specs.
//
// Layout: our models are batch-major ([batch, time, features]); ONNX's GRU is time-major
// ([time, batch, features]) and onnxruntime's CPU GRU refuses layout=1, so Transpose nodes
// surround each run of GRU layers. GRU weights: ours (PyTorch/cuDNN) are weight_ih_l{k} [3H, in]
// with gates in order r, z, n; ONNX wants W [dirs, 3H, in] with gates z, r, h, R [dirs, 3H, H],
// B [dirs, 6H] = (Wb, Rb), and linear_before_reset = 1 (the reset gate multiplies W_hn·h + b_hn,
// as cuDNN/PyTorch/Keras reset_after=True do).
import { checkOptions } from '../options';
import { writeFileAtomicSync } from './atomic';
import { Writer } from './protobuf';

export type OnnxActivation =
  | 'linear' | 'relu' | 'sigmoid' | 'tanh' | 'softmax' | 'logSoftmax' | 'elu' | 'selu' | 'softplus'
  | 'softsign' | 'swish' | 'silu' | 'gelu' | 'hardSigmoid' | 'relu6' | 'exp' | 'square' | 'abs';

export interface OnnxGruSpec {
  type: 'gru';
  inputSize: number;
  hiddenSize: number;
  numLayers?: number;
  bidirectional?: boolean;
  /** How the directions' outputs combine (default 'concat', forward first). */
  mergeMode?: 'concat' | 'sum' | 'mul' | 'ave';
  /** [batch, time, dirs·H] when true, else the last state [batch, dirs·H]. */
  returnSequences?: boolean;
  /** Process the sequence backwards (Keras go_backwards: returned sequences are in processing order). */
  goBackwards?: boolean;
  /** Canonical params (PyTorch names, gate order r, z, n): weight_ih_l0 [3H, in], ..., with _reverse. */
  params: Record<string, Float32Array>;
}

export interface OnnxDenseSpec {
  type: 'dense';
  inputSize: number;
  units: number;
  /** [inputSize, units] row-major (Keras/tfjs layout). */
  kernel: Float32Array;
  bias?: Float32Array | null;
  activation?: OnnxActivation;
}

export interface OnnxActivationSpec { type: 'activation'; activation: OnnxActivation }
/** Identity at inference (dropout). */
export interface OnnxIdentitySpec { type: 'identity' }
export interface OnnxEmbeddingSpec {
  type: 'embedding';
  inputDim: number;
  outputDim: number;
  /** [inputDim, outputDim] row-major. */
  embeddings: Float32Array;
}

/** One timestep of [batch, time, features] → [batch, features]; a negative index counts from the end (−1: the last). */
export interface OnnxSelectTimestepSpec { type: 'selectTimestep'; index: number }

export type OnnxLayerSpec = OnnxGruSpec | OnnxDenseSpec | OnnxActivationSpec | OnnxIdentitySpec | OnnxEmbeddingSpec | OnnxSelectTimestepSpec;

export interface OnnxExportOptions {
  /** [timesteps | null, features] (features omitted for an embedding input: [timesteps | null]). */
  inputShape: readonly (number | null)[];
  /** 'float32' (default) or 'int32' (token ids for an embedding first layer). */
  inputDType?: 'float32' | 'int32';
  /** Default 17 (GRU needs ≥ 14 for nothing in particular; 17 keeps ReduceMean's axes attribute). */
  opset?: number;
  producerVersion?: string;
  graphName?: string;
  inputName?: string;
  outputName?: string;
}

const FLOAT = 1;
const INT32 = 6;
const INT64 = 7;

export class OnnxExportError extends Error {
  override name = 'OnnxExportError';
}

function fail(message: string): never {
  throw new OnnxExportError(`exportOnnx: ${message}`);
}

type Attr = { name: string } & ({ i: number } | { f: number } | { s: string } | { ints: number[] } | { floats: number[] } | { strings: string[] });

class GraphBuilder {
  nodes: Writer[] = [];
  initializers: Writer[] = [];
  private counter = 0;

  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  node(op: string, inputs: string[], outputs: string[] | number, attrs: Attr[] = [], name?: string): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(op.toLowerCase())) : outputs;
    const n = new Writer();
    for (const i of inputs) n.string(1, i);
    for (const o of outs) n.string(2, o);
    n.string(3, name ?? this.fresh(`${op}_node`));
    n.string(4, op);
    for (const a of attrs) {
      const w = new Writer().string(1, a.name);
      if ('f' in a) w.float(2, a.f).int(20, 1);
      else if ('i' in a) w.int(3, a.i).int(20, 2);
      else if ('s' in a) w.bytes(4, new TextEncoder().encode(a.s)).int(20, 3);
      else if ('floats' in a) { for (const f of a.floats) w.float(7, f); w.int(20, 6); }
      else if ('ints' in a) { for (const i of a.ints) w.int(8, i); w.int(20, 7); }
      else { for (const s of a.strings) w.bytes(9, new TextEncoder().encode(s)); w.int(20, 8); }
      n.message(5, w);
    }
    this.nodes.push(n);
    return outs;
  }

  floatInit(name: string, dims: number[], data: Float32Array): string {
    if (data.length !== dims.reduce((a, b) => a * b, 1)) fail(`internal: initializer ${name} has ${data.length} values for dims [${dims}]`);
    const le = new Uint8Array(data.length * 4);
    const dv = new DataView(le.buffer);
    for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i], true);
    const t = new Writer().packedInts(1, dims).int(2, FLOAT).string(8, name).bytes(9, le);
    this.initializers.push(t);
    return name;
  }

  /** A 0-D int64 tensor (a scalar index: Gather then drops the axis). */
  int64Scalar(name: string, value: number): string {
    const le = new Uint8Array(8);
    new DataView(le.buffer).setBigInt64(0, BigInt(value), true);
    this.initializers.push(new Writer().int(2, INT64).string(8, name).bytes(9, le));
    return name;
  }

  int64Init(name: string, values: (number | bigint)[]): string {
    const le = new Uint8Array(values.length * 8);
    const dv = new DataView(le.buffer);
    values.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
    this.initializers.push(new Writer().packedInts(1, [values.length]).int(2, INT64).string(8, name).bytes(9, le));
    return name;
  }
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): Writer {
  const shape = new Writer();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new Writer().int(1, d) : new Writer().string(2, d));
  const tensorType = new Writer().int(1, elemType).message(2, shape);
  return new Writer().string(1, name).message(2, new Writer().message(1, tensorType));
}

/** Reorders [3H, ...] gate blocks from r, z, n (ours) to z, r, h (ONNX). */
function rznToZrh(src: Float32Array, H: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  const block = H * cols;
  out.set(src.subarray(block, 2 * block), 0); // z
  out.set(src.subarray(0, block), block); // r
  out.set(src.subarray(2 * block, 3 * block), 2 * block); // n → h
  return out;
}

function activation(g: GraphBuilder, x: string, act: OnnxActivation | undefined, where: string): string {
  switch (act ?? 'linear') {
    case 'linear': return x;
    case 'relu': return g.node('Relu', [x], 1)[0];
    case 'sigmoid': return g.node('Sigmoid', [x], 1)[0];
    case 'tanh': return g.node('Tanh', [x], 1)[0];
    case 'softmax': return g.node('Softmax', [x], 1, [{ name: 'axis', i: -1 }])[0];
    case 'logSoftmax': return g.node('LogSoftmax', [x], 1, [{ name: 'axis', i: -1 }])[0];
    case 'elu': return g.node('Elu', [x], 1, [{ name: 'alpha', f: 1 }])[0];
    case 'selu': return g.node('Selu', [x], 1, [{ name: 'alpha', f: 1.6732632423543772 }, { name: 'gamma', f: 1.0507009873554805 }])[0];
    case 'softplus': return g.node('Softplus', [x], 1)[0];
    case 'softsign': return g.node('Softsign', [x], 1)[0];
    case 'exp': return g.node('Exp', [x], 1)[0];
    case 'abs': return g.node('Abs', [x], 1)[0];
    case 'square': return g.node('Mul', [x, x], 1)[0];
    case 'hardSigmoid': return g.node('HardSigmoid', [x], 1, [{ name: 'alpha', f: 1 / 6 }, { name: 'beta', f: 0.5 }])[0];
    case 'relu6': {
      const lo = g.floatInit(g.fresh('zero'), [], new Float32Array([0]));
      const hi = g.floatInit(g.fresh('six'), [], new Float32Array([6]));
      return g.node('Clip', [x, lo, hi], 1)[0];
    }
    case 'swish': case 'silu': {
      const s = g.node('Sigmoid', [x], 1)[0];
      return g.node('Mul', [x, s], 1)[0];
    }
    case 'gelu': {
      // Exact gelu: 0.5·x·(1 + erf(x/√2)).
      const c = g.floatInit(g.fresh('inv_sqrt2'), [], new Float32Array([Math.SQRT1_2]));
      const half = g.floatInit(g.fresh('half'), [], new Float32Array([0.5]));
      const one = g.floatInit(g.fresh('one'), [], new Float32Array([1]));
      const e = g.node('Erf', [g.node('Mul', [x, c], 1)[0]], 1)[0];
      const p = g.node('Add', [e, one], 1)[0];
      return g.node('Mul', [g.node('Mul', [x, half], 1)[0], p], 1)[0];
    }
    default:
      return fail(`${where}: activation ${JSON.stringify(act)} has no ONNX export`);
  }
}

function param(spec: OnnxGruSpec, name: string, size: number, where: string): Float32Array {
  const p = spec.params[name];
  if (!(p instanceof Float32Array)) fail(`${where}: parameter ${name} is missing`);
  if (p.length !== size) fail(`${where}: parameter ${name} has ${p.length} values, expected ${size}`);
  return p;
}

/** Emits one GRU layer spec (all its stacked layers); `x` is time-major [T, B, in]. */
function gruLayers(g: GraphBuilder, x: string, spec: OnnxGruSpec, index: number, opset: number): { out: string; timeMajor: boolean } {
  const where = `layer ${index} (gru)`;
  const H = spec.hiddenSize;
  const L = spec.numLayers ?? 1;
  const D = spec.bidirectional ? 2 : 1;
  const merge = spec.mergeMode ?? 'concat';
  if (spec.goBackwards && spec.bidirectional) fail(`${where}: goBackwards with bidirectional is not supported`);
  let cur = x;
  let lastYh = '';
  for (let l = 0; l < L; l++) {
    const inSize = l === 0 ? spec.inputSize : D * H;
    const suffixes = D === 2 ? ['', '_reverse'] : [''];
    const W = new Float32Array(D * 3 * H * inSize);
    const R = new Float32Array(D * 3 * H * H);
    const B = new Float32Array(D * 6 * H);
    suffixes.forEach((s, d) => {
      W.set(rznToZrh(param(spec, `weight_ih_l${l}${s}`, 3 * H * inSize, where), H, inSize), d * 3 * H * inSize);
      R.set(rznToZrh(param(spec, `weight_hh_l${l}${s}`, 3 * H * H, where), H, H), d * 3 * H * H);
      B.set(rznToZrh(param(spec, `bias_ih_l${l}${s}`, 3 * H, where), H, 1), d * 6 * H);
      B.set(rznToZrh(param(spec, `bias_hh_l${l}${s}`, 3 * H, where), H, 1), d * 6 * H + 3 * H);
    });
    const base = `gru${index}_l${l}`;
    const w = g.floatInit(`${base}_W`, [D, 3 * H, inSize], W);
    const r = g.floatInit(`${base}_R`, [D, 3 * H, H], R);
    const b = g.floatInit(`${base}_B`, [D, 6 * H], B);
    const direction = D === 2 ? 'bidirectional' : spec.goBackwards ? 'reverse' : 'forward';
    const [y, yh] = g.node('GRU', [cur, w, r, b], [`${base}_Y`, `${base}_Y_h`], [
      { name: 'hidden_size', i: H },
      { name: 'direction', s: direction },
      { name: 'linear_before_reset', i: 1 },
    ], base);
    lastYh = yh;
    const last = l === L - 1;
    // Y: [T, D, B, H]
    if (!last || spec.returnSequences) {
      if (D === 1 || (last && merge === 'concat') || !last) {
        const t = g.node('Transpose', [y], 1, [{ name: 'perm', ints: [0, 2, 1, 3] }])[0];
        cur = g.node('Reshape', [t, g.int64Init(g.fresh('shape'), [0, 0, -1])], 1)[0];
      } else {
        cur = mergeDirs(g, y, 1, merge, opset);
      }
    }
  }
  if (spec.returnSequences) {
    if (spec.goBackwards) {
      // ONNX gives outputs in time order; Keras go_backwards returns them in processing order.
      cur = g.node('Slice', [cur, g.int64Init(g.fresh('starts'), [-1]), g.int64Init(g.fresh('ends'), [-(2n ** 63n)]), g.int64Init(g.fresh('axes'), [0]), g.int64Init(g.fresh('steps'), [-1])], 1)[0];
    }
    return { out: cur, timeMajor: true };
  }
  // Last state: Y_h [D, B, H] → [B, D·H] (concat) or merged [B, H].
  if (D === 1 || merge === 'concat') {
    const t = g.node('Transpose', [lastYh], 1, [{ name: 'perm', ints: [1, 0, 2] }])[0];
    return { out: g.node('Reshape', [t, g.int64Init(g.fresh('shape'), [0, -1])], 1)[0], timeMajor: false };
  }
  return { out: mergeDirs(g, lastYh, 0, merge, opset), timeMajor: false };
}

function mergeDirs(g: GraphBuilder, y: string, axis: number, merge: 'sum' | 'mul' | 'ave' | 'concat', opset: number): string {
  if (merge === 'sum') return g.node('ReduceSum', [y, g.int64Init(g.fresh('axes'), [axis])], 1, [{ name: 'keepdims', i: 0 }])[0];
  const op = merge === 'mul' ? 'ReduceProd' : 'ReduceMean';
  if (opset >= 18) return g.node(op, [y, g.int64Init(g.fresh('axes'), [axis])], 1, [{ name: 'keepdims', i: 0 }])[0];
  return g.node(op, [y], 1, [{ name: 'axes', ints: [axis] }, { name: 'keepdims', i: 0 }])[0];
}

/** Builds an ONNX ModelProto for a sequential model. */
export function buildOnnxModel(layers: readonly OnnxLayerSpec[], options: OnnxExportOptions): Uint8Array {
  checkOptions('buildOnnxModel', options, ['inputShape', 'inputDType', 'opset', 'producerVersion', 'graphName', 'inputName', 'outputName'], { optional: false });
  if (!Array.isArray(layers)) fail(`the layers must be an array of layer specs, got ${JSON.stringify(layers)}`);
  if (!Array.isArray(options.inputShape)) fail(`options.inputShape must be [timesteps | null, features], got ${JSON.stringify(options.inputShape)}`);
  const opset = options.opset ?? 17;
  if (!Number.isInteger(opset) || opset < 14) fail(`opset must be an integer ≥ 14, got ${opset}`);
  if (!layers.length) fail('the model has no layers');
  const g = new GraphBuilder();
  const inputName = options.inputName ?? 'input';
  const outputName = options.outputName ?? 'output';
  const inputDType = options.inputDType ?? 'float32';
  const [steps] = options.inputShape;
  const inputDims: (number | string)[] = ['batch', steps ?? 'time', ...options.inputShape.slice(1).map((d, i) => d ?? `d${i + 2}`)];
  let cur = inputName;
  let rank = inputDims.length;
  let timeMajor = false;
  let outDims: (number | string)[] = [...inputDims];
  const toBatchMajor = (): void => {
    if (timeMajor) {
      cur = g.node('Transpose', [cur], 1, [{ name: 'perm', ints: [1, 0, 2] }])[0];
      timeMajor = false;
    }
  };
  layers.forEach((spec, i) => {
    const where = `layer ${i} (${spec.type})`;
    switch (spec.type) {
      case 'identity':
        return;
      case 'activation':
        cur = activation(g, cur, spec.activation, where);
        return;
      case 'embedding': {
        if (i !== 0) fail(`${where}: an embedding must be the first layer`);
        if (inputDType !== 'int32') fail(`${where}: the input must be int32 token ids (inputDType: 'int32')`);
        if (spec.embeddings.length !== spec.inputDim * spec.outputDim) fail(`${where}: embeddings have ${spec.embeddings.length} values, expected ${spec.inputDim}·${spec.outputDim}`);
        const table = g.floatInit(`embedding${i}_table`, [spec.inputDim, spec.outputDim], spec.embeddings);
        cur = g.node('Gather', [table, cur], 1, [{ name: 'axis', i: 0 }])[0];
        rank += 1;
        outDims = [...outDims, spec.outputDim];
        return;
      }
      case 'dense': {
        if (spec.kernel.length !== spec.inputSize * spec.units) fail(`${where}: kernel has ${spec.kernel.length} values, expected ${spec.inputSize}·${spec.units}`);
        toBatchMajor();
        const k = g.floatInit(`dense${i}_kernel`, [spec.inputSize, spec.units], spec.kernel);
        cur = g.node('MatMul', [cur, k], 1)[0];
        if (spec.bias) {
          if (spec.bias.length !== spec.units) fail(`${where}: bias has ${spec.bias.length} values, expected ${spec.units}`);
          cur = g.node('Add', [cur, g.floatInit(`dense${i}_bias`, [spec.units], spec.bias)], 1)[0];
        }
        cur = activation(g, cur, spec.activation, where);
        outDims = [...outDims.slice(0, -1), spec.units];
        return;
      }
      case 'selectTimestep': {
        if (rank !== 3) fail(`${where}: needs [batch, time, features] input, got rank ${rank}`);
        if (!Number.isInteger(spec.index)) fail(`${where}: index must be an integer, got ${JSON.stringify(spec.index)}`);
        // Gather with a scalar index drops the time axis (0 when time-major, after a GRU); negative
        // indices count from the end, as ours do.
        cur = g.node('Gather', [cur, g.int64Scalar(g.fresh('timestep'), spec.index)], 1, [{ name: 'axis', i: timeMajor ? 0 : 1 }])[0];
        timeMajor = false;
        rank = 2;
        outDims = [outDims[0]!, outDims[2]!];
        return;
      }
      case 'gru': {
        if (rank !== 3) fail(`${where}: needs [batch, time, features] input, got rank ${rank}`);
        if (!timeMajor) cur = g.node('Transpose', [cur], 1, [{ name: 'perm', ints: [1, 0, 2] }])[0];
        const r = gruLayers(g, cur, spec, i, opset);
        cur = r.out;
        timeMajor = r.timeMajor;
        const width = (spec.bidirectional && (spec.mergeMode ?? 'concat') === 'concat' ? 2 : 1) * spec.hiddenSize;
        if (spec.returnSequences) outDims = [outDims[0], outDims[1], width];
        else {
          outDims = [outDims[0], width];
          rank = 2;
        }
        return;
      }
      default:
        fail(`${where}: unknown layer spec type ${JSON.stringify((spec as { type: unknown }).type)}`);
    }
  });
  toBatchMajor();
  g.node('Identity', [cur], [outputName]);
  const graph = new Writer();
  for (const n of g.nodes) graph.message(1, n);
  graph.string(2, options.graphName ?? 'cudnn_gru_model');
  for (const t of g.initializers) graph.message(5, t);
  graph.message(11, valueInfo(inputName, inputDType === 'int32' ? INT32 : FLOAT, inputDims));
  graph.message(12, valueInfo(outputName, FLOAT, outDims));
  const model = new Writer()
    .int(1, 8) // ir_version 8 (ONNX 1.10+), fine for opsets 14..18
    .string(2, 'cudnn-gru')
    .string(3, options.producerVersion ?? '')
    .message(7, graph)
    .message(8, new Writer().string(1, '').int(2, opset));
  return model.finish();
}

/** Writes the model to `file` atomically. */
export function writeOnnxModel(file: string, layers: readonly OnnxLayerSpec[], options: OnnxExportOptions): void {
  writeFileAtomicSync(file, buildOnnxModel(layers, options));
}
