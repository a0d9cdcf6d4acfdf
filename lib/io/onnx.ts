// ONNX export of GRU models (ModelProto written with the small protobuf encoder).
//
// The model is described framework-neutrally (layer specs with host arrays), so that this file
// does not depend on the model layer: as a graph of calls (buildOnnxGraph: several inputs and
// outputs, merges, recurrent initial and final states; a spec object used by several calls is a
// shared layer, its initializers written once) or, for a chain, as a list of specs
// (buildOnnxModel). lib/io/model-io.ts turns Sequential and functional models into graphs.
//
// Layout: our models are batch-major ([batch, time, features]); ONNX's recurrent ops are
// time-major ([time, batch, features]) and onnxruntime's CPU kernels refuse layout=1, so sequences
// are transposed where a recurrent op needs them; each graph value remembers the layouts it has,
// so that stacked recurrent layers (and what acts on the last axis between them) need no
// transposes in between. Weights: ours (PyTorch/cuDNN) are weight_ih_l{k} [gates·H, in] with
// PyTorch's gate order; ONNX wants W [dirs, gates·H, in], R [dirs, gates·H, H] and
// B [dirs, 2·gates·H] = (Wb, Rb) in its own order: GRU r, z, n → z, r, h with
// linear_before_reset = 1 (the reset gate multiplies W_hn·h + b_hn, as cuDNN/PyTorch/Keras
// reset_after=True do); LSTM i, f, g, o → i, o, f, c; RNN one block.
import { checkOptions } from '../options';
import { describe } from '../backend';
import { writeFileAtomicSync } from './atomic';
import { Writer } from './protobuf';

export type OnnxActivation =
  | 'linear' | 'relu' | 'sigmoid' | 'tanh' | 'softmax' | 'logSoftmax' | 'elu' | 'selu' | 'softplus'
  | 'softsign' | 'swish' | 'silu' | 'gelu' | 'hardSigmoid' | 'relu6' | 'exp' | 'square' | 'abs';

/**
 * What GRU, LSTM and RNN specs share. In a graph call the inputs are [x, ...initial states] and
 * the outputs [output, ...final states] (returnState).
 */
interface OnnxRecurrentSpecBase {
  inputSize: number;
  hiddenSize: number;
  numLayers?: number;
  bidirectional?: boolean;
  /** How the directions' outputs combine (default 'concat', forward first). */
  mergeMode?: 'concat' | 'sum' | 'mul' | 'ave';
  /** [batch, time, dirs·H] when true, else the last state [batch, dirs·H]. */
  returnSequences?: boolean;
  /**
   * Graph calls only: the call also outputs the last layer's final states, [batch, H] each, per
   * direction (forward first; an LSTM's h, c for each). Initial states, when the call has them,
   * come as [batch, H] inputs after x, per layer and direction (layer-major; an LSTM's h, c for each).
   */
  returnState?: boolean;
  /** Process the sequence backwards (Keras go_backwards: returned sequences are in processing order). */
  goBackwards?: boolean;
  /** Canonical params (PyTorch names and layouts): weight_ih_l0 [gates·H, in], weight_hh_l0, bias_ih_l0, bias_hh_l0, with _reverse. */
  params: Record<string, Float32Array>;
}

/** A GRU (cuDNN/PyTorch's, = Keras reset_after=True); params with gates r, z, n. */
export interface OnnxGruSpec extends OnnxRecurrentSpecBase { type: 'gru' }
/** An LSTM (PyTorch's nn.LSTM); params with gates i, f, g, o. */
export interface OnnxLstmSpec extends OnnxRecurrentSpecBase { type: 'lstm' }
/** A simple RNN (PyTorch's nn.RNN): h' = activation(W_ih·x + b_ih + W_hh·h + b_hh). */
export interface OnnxRnnSpec extends OnnxRecurrentSpecBase { type: 'rnn'; activation?: 'tanh' | 'relu' }
export type OnnxRecurrentSpec = OnnxGruSpec | OnnxLstmSpec | OnnxRnnSpec;

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
  /** Token 0 is right padding: the sequence's lengths (trailing zeros stripped) go to recurrent layers downstream. */
  maskZero?: boolean;
}

/** Steps whose features all equal maskValue at the end of a sequence are padding (lengths for recurrent layers downstream). */
export interface OnnxMaskingSpec { type: 'masking'; maskValue: number }

/** One timestep of [batch, time, features] → [batch, features]; a negative index counts from the end (−1: the last). */
export interface OnnxSelectTimestepSpec { type: 'selectTimestep'; index: number }
/** Graph calls of two or more inputs of one shape (concatenate: but for the last axis, which it joins). */
export interface OnnxMergeSpec { type: 'merge'; mode: 'concatenate' | 'add' | 'multiply' | 'average' }
/** [batch, features] → [batch, n, features]. */
export interface OnnxRepeatVectorSpec { type: 'repeatVector'; n: number }
/** [batch, ...] → [batch, ...targetShape] (same size). */
export interface OnnxReshapeSpec { type: 'reshape'; targetShape: number[] }
/** [batch, ...] → [batch, size]. */
export interface OnnxFlattenSpec { type: 'flatten' }
/** Normalisation over the last axis (ONNX LayerNormalization, opset ≥ 17); no gamma: 1, no beta: 0. */
export interface OnnxLayerNormalizationSpec { type: 'layerNormalization'; size: number; epsilon: number; gamma?: Float32Array | null; beta?: Float32Array | null }

export type OnnxLayerSpec =
  | OnnxRecurrentSpec | OnnxDenseSpec | OnnxActivationSpec | OnnxIdentitySpec | OnnxEmbeddingSpec | OnnxSelectTimestepSpec
  | OnnxMergeSpec | OnnxRepeatVectorSpec | OnnxReshapeSpec | OnnxFlattenSpec | OnnxMaskingSpec | OnnxLayerNormalizationSpec;

/**
 * A graph of layer calls in topological order. Values are named by strings: the graph inputs'
 * names and the names each call gives its outputs; `outputs` maps graph output names to values.
 */
export interface OnnxGraph {
  /** Shapes without the batch dimension (null: a variable length); dtype 'float32' (default) or 'int32' (token ids). */
  inputs: Array<{ name: string; shape: readonly (number | null)[]; dtype?: 'float32' | 'int32' }>;
  /** `name` (a layer's) names the call in errors and prefixes its initializers. */
  nodes: Array<{ spec: OnnxLayerSpec; inputs: string[]; outputs: string[]; name?: string }>;
  outputs: Array<{ name: string; value: string }>;
}

export interface OnnxGraphOptions {
  /** Default 17 (≥ 14: Unsqueeze and Reduce* take axes the way this writer emits them). */
  opset?: number;
  producerVersion?: string;
  graphName?: string;
}

export interface OnnxExportOptions extends OnnxGraphOptions {
  /** [timesteps | null, features] (features omitted for an embedding input: [timesteps | null]). */
  inputShape: readonly (number | null)[];
  /** 'float32' (default) or 'int32' (token ids for an embedding first layer). */
  inputDType?: 'float32' | 'int32';
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
  /** Every name given so far (graph inputs and outputs included): generated names avoid them. */
  private readonly used = new Set<string>();
  private counter = 0;
  /** Initializers of a spec, written once however many calls use it (shared layers). */
  private readonly shared = new Map<object, Map<string, string[]>>();

  /** `preferred`, or with a numeric suffix when it is taken. */
  unique(preferred: string): string {
    let name = preferred;
    for (let k = 1; this.used.has(name); k++) name = `${preferred}_${k}`;
    this.used.add(name);
    return name;
  }

  /** A generated name: `prefix` and a counter. */
  fresh(prefix: string): string {
    return this.unique(`${prefix}_${this.counter++}`);
  }

  /** The initializer names `make` writes for (owner, key), made on the first request only. */
  once(owner: object, key: string, make: () => string[]): string[] {
    let byKey = this.shared.get(owner);
    if (!byKey) this.shared.set(owner, (byKey = new Map()));
    let names = byKey.get(key);
    if (!names) byKey.set(key, (names = make()));
    return names;
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

  floatInit(preferred: string, dims: number[], data: Float32Array): string {
    const name = this.unique(preferred);
    if (data.length !== dims.reduce((a, b) => a * b, 1)) fail(`internal: initializer ${name} has ${data.length} values for dims [${dims}]`);
    const le = new Uint8Array(data.length * 4);
    const dv = new DataView(le.buffer);
    for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i], true);
    const t = new Writer().packedInts(1, dims).int(2, FLOAT).string(8, name).bytes(9, le);
    this.initializers.push(t);
    return name;
  }

  /** A 0-D int64 tensor (a scalar index: Gather then drops the axis). */
  int64Scalar(value: number): string {
    const name = this.fresh('index');
    const le = new Uint8Array(8);
    new DataView(le.buffer).setBigInt64(0, BigInt(value), true);
    this.initializers.push(new Writer().int(2, INT64).string(8, name).bytes(9, le));
    return name;
  }

  /** A 0-D int32 tensor. */
  int32Scalar(value: number): string {
    const name = this.fresh('int');
    const le = new Uint8Array(4);
    new DataView(le.buffer).setInt32(0, value, true);
    this.initializers.push(new Writer().int(2, INT32).string(8, name).bytes(9, le));
    return name;
  }

  int64Init(prefix: string, values: (number | bigint)[]): string {
    const name = this.fresh(prefix);
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
      const lo = g.floatInit('zero', [], new Float32Array([0]));
      const hi = g.floatInit('six', [], new Float32Array([6]));
      return g.node('Clip', [x, lo, hi], 1)[0];
    }
    case 'swish': case 'silu': {
      const s = g.node('Sigmoid', [x], 1)[0];
      return g.node('Mul', [x, s], 1)[0];
    }
    case 'gelu': {
      // Exact gelu: 0.5·x·(1 + erf(x/√2)).
      const c = g.floatInit('inv_sqrt2', [], new Float32Array([Math.SQRT1_2]));
      const half = g.floatInit('half', [], new Float32Array([0.5]));
      const one = g.floatInit('one', [], new Float32Array([1]));
      const e = g.node('Erf', [g.node('Mul', [x, c], 1)[0]], 1)[0];
      const p = g.node('Add', [e, one], 1)[0];
      return g.node('Mul', [g.node('Mul', [x, half], 1)[0], p], 1)[0];
    }
    default:
      return fail(`${where}: activation ${JSON.stringify(act)} has no ONNX export`);
  }
}


type Dim = number | string;

/**
 * A tensor of the graph being built: its batch-major dims and dtype, and its ONNX name in each
 * layout made so far (a sequence [batch, time, F] may exist time-major, [time, batch, F], as a
 * recurrent op's output; one of bm and tm is always set, and tm only for rank 3).
 */
interface Value {
  dims: Dim[];
  dtype: 'float32' | 'int32';
  bm?: string;
  tm?: string;
  /** A sequence's per-sample valid lengths (int32 [batch]) when it is masked, as the model's graph passes them on. */
  lengths?: string;
}

function batchMajor(g: GraphBuilder, v: Value): string {
  v.bm ??= g.node('Transpose', [v.tm!], 1, [{ name: 'perm', ints: [1, 0, 2] }])[0];
  return v.bm;
}

function timeMajor(g: GraphBuilder, v: Value): string {
  v.tm ??= g.node('Transpose', [v.bm!], 1, [{ name: 'perm', ints: [1, 0, 2] }])[0];
  return v.tm;
}

/** An op acting on the last axis or elementwise, in the layout `v` has (batch-major when it has both). */
function sameLayout(v: Value, dims: Dim[], op: (x: string) => string): Value {
  return v.bm ? { dims, dtype: 'float32', bm: op(v.bm) } : { dims, dtype: 'float32', tm: op(v.tm!) };
}

const rankOf = (v: Value) => v.dims.length;
const showDims = (dims: Dim[]) => `[${dims.join(', ')}]`;

function lastDim(v: Value, want: number, where: string): void {
  const d = v.dims[v.dims.length - 1];
  if (typeof d === 'number' && d !== want) fail(`${where}: expects inputs with ${want} features, got ${showDims(v.dims)}`);
}

/** The ONNX op and PyTorch → ONNX gate order of each recurrent spec type (blocks of H rows). */
const CELLS = {
  gru: { op: 'GRU', order: [1, 0, 2], states: 1 }, // r, z, n → z, r, h
  lstm: { op: 'LSTM', order: [0, 3, 1, 2], states: 2 }, // i, f, g, o → i, o, f, c
  rnn: { op: 'RNN', order: [0], states: 1 },
} as const;

/** Reorders [gates·H, cols] blocks: output block k is source block order[k]. */
function reorderGates(src: Float32Array, order: readonly number[], H: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  const block = H * cols;
  order.forEach((from, k) => out.set(src.subarray(from * block, (from + 1) * block), k * block));
  return out;
}

function param(spec: OnnxRecurrentSpec, name: string, size: number, where: string): Float32Array {
  const p = spec.params?.[name];
  if (!(p instanceof Float32Array)) fail(`${where}: parameter ${name} is missing`);
  if (p.length !== size) fail(`${where}: parameter ${name} has ${p.length} values, expected ${size}`);
  return p;
}

/** The calls' initial states of one layer for ONNX: [dirs, batch, H] from [batch, H] values. */
function stackStates(g: GraphBuilder, states: Value[], where: string, H: number): string {
  const axes = g.int64Init('axes', [0]);
  const parts = states.map((s) => {
    if (rankOf(s) !== 2) fail(`${where}: initial states must be [batch, ${H}], got ${showDims(s.dims)}`);
    lastDim(s, H, where);
    return g.node('Unsqueeze', [batchMajor(g, s), axes], 1)[0];
  });
  return parts.length === 1 ? parts[0]! : g.node('Concat', parts, 1, [{ name: 'axis', i: 0 }])[0];
}

/** Emits a recurrent spec (all its stacked layers): [output, ...final states when returnState]. */
function recurrent(g: GraphBuilder, spec: OnnxRecurrentSpec, ins: Value[], lengths: string | undefined, where: string, prefix: string, opset: number): Value[] {
  const cell = CELLS[spec.type];
  const H = spec.hiddenSize;
  const L = spec.numLayers ?? 1;
  const D = spec.bidirectional ? 2 : 1;
  const G = cell.order.length;
  const merge = spec.mergeMode ?? 'concat';
  if (!Number.isInteger(H) || H < 1 || !Number.isInteger(L) || L < 1 || !Number.isInteger(spec.inputSize) || spec.inputSize < 1) {
    fail(`${where}: inputSize, hiddenSize and numLayers must be positive integers, got ${spec.inputSize}, ${H}, ${L}`);
  }
  if (spec.goBackwards && spec.bidirectional) fail(`${where}: goBackwards with bidirectional is not supported`);
  if (spec.type === 'rnn' && ![undefined, 'tanh', 'relu'].includes(spec.activation)) fail(`${where}: activation must be 'tanh' or 'relu', got ${describe(spec.activation)}`);
  const [x, ...initial] = ins;
  if (rankOf(x!) !== 3) fail(`${where}: needs [batch, time, features] input, got rank ${rankOf(x!)}`);
  lastDim(x!, spec.inputSize, where);
  if (initial.length && initial.length !== cell.states * L * D) {
    fail(`${where}: takes ${cell.states * L * D} initial states (${spec.type === 'lstm' ? 'h and c ' : ''}per layer and direction), got ${initial.length}`);
  }
  const direction = D === 2 ? 'bidirectional' : spec.goBackwards ? 'reverse' : 'forward';
  const attrs: Attr[] = [{ name: 'hidden_size', i: H }, { name: 'direction', s: direction }];
  if (spec.type === 'gru') attrs.push({ name: 'linear_before_reset', i: 1 });
  if (spec.type === 'rnn') attrs.push({ name: 'activations', strings: new Array(D).fill(spec.activation === 'relu' ? 'Relu' : 'Tanh') });
  let cur = timeMajor(g, x!);
  let last: string[] = [];
  for (let l = 0; l < L; l++) {
    const inSize = l === 0 ? spec.inputSize : D * H;
    const base = `${prefix}_l${l}`;
    const weights = g.once(spec, `l${l}`, () => {
      const suffixes = D === 2 ? ['', '_reverse'] : [''];
      const W = new Float32Array(D * G * H * inSize);
      const R = new Float32Array(D * G * H * H);
      const B = new Float32Array(D * 2 * G * H);
      suffixes.forEach((s, d) => {
        W.set(reorderGates(param(spec, `weight_ih_l${l}${s}`, G * H * inSize, where), cell.order, H, inSize), d * G * H * inSize);
        R.set(reorderGates(param(spec, `weight_hh_l${l}${s}`, G * H * H, where), cell.order, H, H), d * G * H * H);
        B.set(reorderGates(param(spec, `bias_ih_l${l}${s}`, G * H, where), cell.order, H, 1), d * 2 * G * H);
        B.set(reorderGates(param(spec, `bias_hh_l${l}${s}`, G * H, where), cell.order, H, 1), d * 2 * G * H + G * H);
      });
      return [g.floatInit(`${base}_W`, [D, G * H, inSize], W), g.floatInit(`${base}_R`, [D, G * H, H], R), g.floatInit(`${base}_B`, [D, 2 * G * H], B)];
    });
    // optional inputs: sequence_lens (masked input), initial_h, then an LSTM's initial_c; each from this layer's slots
    const slots = Array.from({ length: D }, (_, d) => (l * D + d) * cell.states);
    const starts = initial.length ? Array.from({ length: cell.states }, (_, k) => stackStates(g, slots.map((i) => initial[i + k]!), where, H)) : [];
    const inputs = [cur, ...weights];
    if (lengths || starts.length) inputs.push(lengths ?? '');
    inputs.push(...starts);
    const outs = ['Y', 'Y_h', 'Y_c'].slice(0, 1 + cell.states).map((o) => g.unique(`${base}_${o}`));
    const [y] = g.node(cell.op, inputs, outs, attrs, g.unique(base));
    last = outs.slice(1);
    if (lengths && starts.length && l === L - 1) {
      // A sample with no valid step keeps its initial state (as our engines and cuDNN do); onnxruntime gives zeros.
      const hasSteps = g.node('Unsqueeze', [g.node('Greater', [lengths, g.int32Scalar(0)], 1)[0], g.int64Init('axes', [0, 2])], 1)[0];
      last = last.map((state, k) => g.node('Where', [hasSteps, state, starts[k]!], 1)[0]);
    }
    // Y: [T, D, B, H]
    if (l < L - 1 || spec.returnSequences) {
      if (D === 1 || l < L - 1 || merge === 'concat') {
        const t = g.node('Transpose', [y!], 1, [{ name: 'perm', ints: [0, 2, 1, 3] }])[0];
        cur = g.node('Reshape', [t, g.int64Init('shape', [0, 0, -1])], 1)[0];
      } else {
        cur = mergeDirs(g, y!, 1, merge, opset);
      }
    }
  }
  const width = (D === 2 && merge === 'concat' ? 2 : 1) * H;
  const [batch, time] = x!.dims;
  let out: Value;
  if (spec.returnSequences) {
    // ONNX gives outputs in time order; Keras go_backwards returns them in processing order
    // (of each sample's valid steps, padding staying at the end).
    if (spec.goBackwards && lengths) cur = g.node('ReverseSequence', [cur, g.node('Cast', [lengths], 1, [{ name: 'to', i: INT64 }])[0]], 1, [{ name: 'batch_axis', i: 1 }, { name: 'time_axis', i: 0 }])[0];
    else if (spec.goBackwards) cur = g.node('Slice', [cur, g.int64Init('starts', [-1]), g.int64Init('ends', [-(2n ** 63n)]), g.int64Init('axes', [0]), g.int64Init('steps', [-1])], 1)[0];
    out = { dims: [batch!, time!, width], dtype: 'float32', tm: cur };
  } else if (D === 1 || merge === 'concat') {
    // Last state: Y_h [D, B, H] → [B, D·H] (concat) or merged [B, H].
    const t = g.node('Transpose', [last[0]!], 1, [{ name: 'perm', ints: [1, 0, 2] }])[0];
    out = { dims: [batch!, width], dtype: 'float32', bm: g.node('Reshape', [t, g.int64Init('shape', [0, -1])], 1)[0] };
  } else {
    out = { dims: [batch!, width], dtype: 'float32', bm: mergeDirs(g, last[0]!, 0, merge, opset) };
  }
  if (!spec.returnState) return [out];
  // Final states per direction of the last layer: Y_h[d] (and Y_c[d]), [B, H] each.
  const states: Value[] = [];
  for (let d = 0; d < D; d++) {
    for (const s of last) states.push({ dims: [batch!, H], dtype: 'float32', bm: g.node('Gather', [s, g.int64Scalar(d)], 1, [{ name: 'axis', i: 0 }])[0] });
  }
  return [out, ...states];
}

/** A Reduce* op over one axis, dropping it (ReduceSum takes axes as an input from opset 13, the others from 18). */
function reduce(g: GraphBuilder, op: 'ReduceSum' | 'ReduceProd' | 'ReduceMean' | 'ReduceMax', x: string, axis: number, opset: number): string {
  if (op === 'ReduceSum' || opset >= 18) return g.node(op, [x, g.int64Init('axes', [axis])], 1, [{ name: 'keepdims', i: 0 }])[0];
  return g.node(op, [x], 1, [{ name: 'axes', ints: [axis] }, { name: 'keepdims', i: 0 }])[0];
}

function mergeDirs(g: GraphBuilder, y: string, axis: number, merge: 'sum' | 'mul' | 'ave' | 'concat', opset: number): string {
  return reduce(g, merge === 'sum' ? 'ReduceSum' : merge === 'mul' ? 'ReduceProd' : 'ReduceMean', y, axis, opset);
}

/**
 * Per-sample valid lengths (int32 [batch], what sequence_lens takes) of right-padded sequences,
 * from `real` (int64 [batch, time], 1 where a step is not padding): padding is what follows the
 * last real step, so the length is max over t of (t + 1)·real[b, t] (0 for an all-padding row).
 */
function trailingLengths(g: GraphBuilder, real: string, opset: number): string {
  const time = g.node('Gather', [g.node('Shape', [real], 1)[0], g.int64Scalar(1)], 1, [{ name: 'axis', i: 0 }])[0];
  const one = g.int64Scalar(1);
  const steps = g.node('Range', [one, g.node('Add', [time, one], 1)[0], one], 1)[0];
  const last = reduce(g, 'ReduceMax', g.node('Mul', [real, steps], 1)[0], 1, opset);
  return g.node('Cast', [last], 1, [{ name: 'to', i: INT32 }])[0];
}


/** How many inputs and outputs a call of `spec` has. */
function arity(spec: OnnxLayerSpec): { inputs: number | 'merge' | 'recurrent'; outputs: number } {
  if (spec.type === 'merge') return { inputs: 'merge', outputs: 1 };
  if (spec.type === 'gru' || spec.type === 'lstm' || spec.type === 'rnn') {
    return { inputs: 'recurrent', outputs: 1 + (spec.returnState ? (spec.bidirectional ? 2 : 1) * CELLS[spec.type].states : 0) };
  }
  return { inputs: 1, outputs: 1 };
}

/** Emits one call of `spec` on its input values; returns its output values. */
function emit(g: GraphBuilder, spec: OnnxLayerSpec, ins: Value[], lengths: string | undefined, where: string, prefix: string, opset: number): Value[] {
  const [x] = ins;
  switch (spec.type) {
    case 'identity':
      return [x!];
    case 'activation':
      return [sameLayout(x!, x!.dims, (v) => activation(g, v, spec.activation, where))];
    case 'embedding': {
      if (x!.dtype !== 'int32') fail(`${where}: takes int32 token ids, got a float32 input`);
      if (spec.embeddings.length !== spec.inputDim * spec.outputDim) fail(`${where}: embeddings have ${spec.embeddings.length} values, expected ${spec.inputDim}·${spec.outputDim}`);
      const [table] = g.once(spec, 'table', () => [g.floatInit(`${prefix}_table`, [spec.inputDim, spec.outputDim], spec.embeddings)]);
      const ids = batchMajor(g, x!);
      let lengths: string | undefined;
      if (spec.maskZero) {
        if (rankOf(x!) !== 2) fail(`${where}: maskZero needs [batch, time] token ids, got ${showDims(x!.dims)}`);
        const real = g.node('Not', [g.node('Equal', [ids, g.int32Scalar(0)], 1)[0]], 1)[0];
        lengths = trailingLengths(g, g.node('Cast', [real], 1, [{ name: 'to', i: INT64 }])[0], opset);
      }
      return [{ dims: [...x!.dims, spec.outputDim], dtype: 'float32', bm: g.node('Gather', [table!, ids], 1, [{ name: 'axis', i: 0 }])[0], lengths }];
    }
    case 'masking': {
      if (rankOf(x!) !== 3) fail(`${where}: needs [batch, time, features] input, got rank ${rankOf(x!)}`);
      if (typeof spec.maskValue !== 'number' || Number.isNaN(spec.maskValue)) fail(`${where}: maskValue must be a number, got ${describe(spec.maskValue)}`);
      // A step is real when any feature differs from maskValue.
      const differs = g.node('Not', [g.node('Equal', [batchMajor(g, x!), g.floatInit('mask_value', [], new Float32Array([spec.maskValue]))], 1)[0]], 1)[0];
      const real = reduce(g, 'ReduceMax', g.node('Cast', [differs], 1, [{ name: 'to', i: INT64 }])[0], 2, opset);
      return [{ ...x!, lengths: trailingLengths(g, real, opset) }];
    }
    case 'dense': {
      if (spec.kernel.length !== spec.inputSize * spec.units) fail(`${where}: kernel has ${spec.kernel.length} values, expected ${spec.inputSize}·${spec.units}`);
      if (spec.bias && spec.bias.length !== spec.units) fail(`${where}: bias has ${spec.bias.length} values, expected ${spec.units}`);
      lastDim(x!, spec.inputSize, where);
      const [k, b] = g.once(spec, 'dense', () => [
        g.floatInit(`${prefix}_kernel`, [spec.inputSize, spec.units], spec.kernel),
        ...(spec.bias ? [g.floatInit(`${prefix}_bias`, [spec.units], spec.bias)] : []),
      ]);
      return [sameLayout(x!, [...x!.dims.slice(0, -1), spec.units], (v) => {
        const y = g.node('MatMul', [v, k!], 1)[0];
        return activation(g, b ? g.node('Add', [y, b], 1)[0] : y, spec.activation, where);
      })];
    }
    case 'layerNormalization': {
      if (opset < 17) fail(`${where}: LayerNormalization needs opset ≥ 17, got ${opset}`);
      for (const [name, v] of [['gamma', spec.gamma], ['beta', spec.beta]] as const) {
        if (v && v.length !== spec.size) fail(`${where}: ${name} has ${v.length} values, expected ${spec.size}`);
      }
      lastDim(x!, spec.size, where);
      const [gamma, beta] = g.once(spec, 'layerNormalization', () => [
        g.floatInit(`${prefix}_gamma`, [spec.size], spec.gamma ?? new Float32Array(spec.size).fill(1)),
        g.floatInit(`${prefix}_beta`, [spec.size], spec.beta ?? new Float32Array(spec.size)),
      ]);
      const attributes = [{ name: 'axis', i: -1 }, { name: 'epsilon', f: spec.epsilon }];
      return [sameLayout(x!, x!.dims, (v) => g.node('LayerNormalization', [v, gamma!, beta!], 1, attributes)[0])];
    }
    case 'selectTimestep': {
      if (rankOf(x!) !== 3) fail(`${where}: needs [batch, time, features] input, got rank ${rankOf(x!)}`);
      if (!Number.isInteger(spec.index)) fail(`${where}: index must be an integer, got ${JSON.stringify(spec.index)}`);
      // Gather with a scalar index drops the time axis; negative indices count from the end, as ours do.
      const onTime = x!.tm !== undefined;
      const y = g.node('Gather', [onTime ? x!.tm! : x!.bm!, g.int64Scalar(spec.index)], 1, [{ name: 'axis', i: onTime ? 0 : 1 }])[0];
      return [{ dims: [x!.dims[0]!, x!.dims[2]!], dtype: 'float32', bm: y }];
    }
    case 'merge': {
      if (ins.some((v) => rankOf(v) !== rankOf(x!))) fail(`${where}: inputs must have equal ranks, got ${ins.map((v) => showDims(v.dims)).join(', ')}`);
      // Time-major when every input has that layout and one has no other (after recurrent layers).
      const tm = ins.every((v) => v.tm) && ins.some((v) => !v.bm);
      const names = ins.map((v) => (tm ? v.tm! : batchMajor(g, v)));
      let dims = x!.dims;
      let y: string;
      if (spec.mode === 'concatenate') {
        const widths = ins.map((v) => v.dims[rankOf(v) - 1]);
        if (widths.some((w) => typeof w !== 'number')) fail(`${where}: the last dimension of every input must be known, got ${ins.map((v) => showDims(v.dims)).join(', ')}`);
        dims = [...dims.slice(0, -1), (widths as number[]).reduce((a, b) => a + b, 0)];
        y = g.node('Concat', names, 1, [{ name: 'axis', i: -1 }])[0];
      } else if (spec.mode === 'add') y = g.node('Sum', names, 1)[0];
      else if (spec.mode === 'average') y = g.node('Mean', names, 1)[0];
      else if (spec.mode === 'multiply') y = names.slice(1).reduce((a, b) => g.node('Mul', [a, b], 1)[0], names[0]!);
      else fail(`${where}: mode must be 'concatenate', 'add', 'multiply' or 'average', got ${describe((spec as { mode: unknown }).mode)}`);
      return [tm ? { dims, dtype: 'float32', tm: y } : { dims, dtype: 'float32', bm: y }];
    }
    case 'repeatVector': {
      if (rankOf(x!) !== 2) fail(`${where}: needs [batch, features] input, got rank ${rankOf(x!)}`);
      if (!Number.isInteger(spec.n) || spec.n < 1) fail(`${where}: n must be a positive integer, got ${describe(spec.n)}`);
      // Made time-major, [n, batch, F]: what a recurrent layer (the usual consumer) takes.
      const u = g.node('Unsqueeze', [batchMajor(g, x!), g.int64Init('axes', [0])], 1)[0];
      return [{ dims: [x!.dims[0]!, spec.n, x!.dims[1]!], dtype: 'float32', tm: g.node('Tile', [u, g.int64Init('repeats', [spec.n, 1, 1])], 1)[0] }];
    }
    case 'reshape': {
      const t = spec.targetShape;
      if (!Array.isArray(t) || !t.length || !t.every((d) => Number.isInteger(d) && d > 0)) fail(`${where}: targetShape must be a non-empty array of positive integers, got ${describe(t)}`);
      const size = x!.dims.slice(1);
      if (size.every((d) => typeof d === 'number') && (size as number[]).reduce((a, b) => a * b, 1) !== t.reduce((a, b) => a * b, 1)) fail(`${where}: cannot reshape ${showDims(x!.dims)} to [batch, ${t.join(', ')}]`);
      return [{ dims: [x!.dims[0]!, ...t], dtype: x!.dtype, bm: g.node('Reshape', [batchMajor(g, x!), g.int64Init('shape', [0, ...t])], 1)[0] }];
    }
    case 'flatten': {
      const size = x!.dims.slice(1);
      const width = size.every((d) => typeof d === 'number') ? (size as number[]).reduce((a, b) => a * b, 1) : g.fresh('flat');
      return [{ dims: [x!.dims[0]!, width], dtype: x!.dtype, bm: g.node('Flatten', [batchMajor(g, x!)], 1, [{ name: 'axis', i: 1 }])[0] }];
    }
    case 'gru': case 'lstm': case 'rnn':
      return recurrent(g, spec, ins, lengths, where, prefix, opset);
    default:
      return fail(`${where}: unknown layer spec type ${JSON.stringify((spec as { type: unknown }).type)}`);
  }
}

/** Calls after which a sequence's padding lengths no longer apply (the layers reset them too). */
const ENDS_TIME = new Set<OnnxLayerSpec['type']>(['repeatVector', 'reshape', 'flatten', 'selectTimestep']);

/** A graph call as the writer sees it: `where` names it in errors, `prefix` its initializers. */
interface Call {
  spec: OnnxLayerSpec;
  inputs: string[];
  outputs: string[];
  where: string;
  prefix: string;
}

function writeGraph(inputs: OnnxGraph['inputs'], calls: Call[], outputs: OnnxGraph['outputs'], options: OnnxGraphOptions): Uint8Array {
  const opset = options.opset ?? 17;
  if (!Number.isInteger(opset) || opset < 14) fail(`opset must be an integer ≥ 14, got ${opset}`);
  const g = new GraphBuilder();
  const values = new Map<string, Value>();
  const inputInfos: Writer[] = [];
  for (const inp of inputs) {
    if (typeof inp?.name !== 'string' || !inp.name) fail(`every graph input needs a non-empty name, got ${describe(inp?.name)}`);
    if (values.has(inp.name)) fail(`graph input '${inp.name}' is listed twice`);
    if (!Array.isArray(inp.shape) || !inp.shape.every((d) => d === null || (Number.isInteger(d) && d > 0))) fail(`input '${inp.name}': shape must be an array of positive integers or null (without the batch dimension), got ${describe(inp.shape)}`);
    const dtype = inp.dtype ?? 'float32';
    if (dtype !== 'float32' && dtype !== 'int32') fail(`input '${inp.name}': dtype must be 'float32' or 'int32', got ${describe(inp.dtype)}`);
    g.unique(inp.name);
    // Symbolic dims: time for axis 1, d<axis> beyond; prefixed by the input's name when there are several.
    const symbol = (axis: number) => `${inputs.length > 1 ? `${inp.name}_` : ''}${axis === 1 ? 'time' : `d${axis}`}`;
    const dims: Dim[] = ['batch', ...inp.shape.map((d, i) => d ?? symbol(i + 1))];
    values.set(inp.name, { dims, dtype, bm: inp.name });
    inputInfos.push(valueInfo(inp.name, dtype === 'int32' ? INT32 : FLOAT, dims));
  }
  for (const o of outputs) {
    // ONNX names each value once: an output named like an input would define that name twice.
    if (values.has(o.name)) fail(`output '${o.name}' has the name of a graph input; give it another name`);
    g.unique(o.name);
  }
  for (const call of calls) {
    const { spec, where } = call;
    if (typeof spec !== 'object' || spec === null) fail(`${where}: spec must be a layer spec object, got ${describe(spec)}`);
    const want = arity(spec);
    const ins = call.inputs.map((id) => values.get(id) ?? fail(`${where}: input '${id}' is neither a graph input nor an earlier call's output`));
    const n = ins.length;
    if (want.inputs === 'merge' ? n < 2 : want.inputs === 'recurrent' ? n < 1 : n !== want.inputs) {
      fail(`${where}: takes ${want.inputs === 'merge' ? 'two or more inputs' : want.inputs === 'recurrent' ? 'x and its initial states' : `${want.inputs} input`}, got ${n}`);
    }
    if (call.outputs.length !== want.outputs) fail(`${where}: gives ${want.outputs} output${want.outputs > 1 ? 's' : ''}, the call names ${call.outputs.length}`);
    // As the model's graph does: a call sees the padding lengths of its first masked input, and
    // its sequence outputs keep them unless it sets its own or ends the time axis.
    const lengths = ins.map((v) => v.lengths).find((l) => l !== undefined);
    const outs = emit(g, spec, ins, lengths, where, call.prefix, opset);
    if (lengths && !ENDS_TIME.has(spec.type)) for (const v of outs) if (rankOf(v) >= 3) v.lengths ??= lengths;
    call.outputs.forEach((id, i) => {
      if (values.has(id)) fail(`${where}: output '${id}' names a value that exists already`);
      values.set(id, outs[i]!);
    });
  }
  if (!outputs.length) fail('the graph has no outputs');
  const outputInfos = outputs.map((o) => {
    const v = values.get(o.value) ?? fail(`output '${o.name}': '${o.value}' is neither a graph input nor a call's output`);
    g.node('Identity', [batchMajor(g, v)], [o.name]);
    return valueInfo(o.name, v.dtype === 'int32' ? INT32 : FLOAT, v.dims);
  });
  const graph = new Writer();
  for (const n of g.nodes) graph.message(1, n);
  graph.string(2, options.graphName ?? 'cudnn_gru_model');
  for (const t of g.initializers) graph.message(5, t);
  for (const i of inputInfos) graph.message(11, i);
  for (const o of outputInfos) graph.message(12, o);
  const model = new Writer()
    .int(1, 8) // ir_version 8 (ONNX 1.10+), fine for opsets 14..18
    .string(2, 'cudnn-gru')
    .string(3, options.producerVersion ?? '')
    .message(7, graph)
    .message(8, new Writer().string(1, '').int(2, opset));
  return model.finish();
}

/** Builds an ONNX ModelProto for a graph of layer calls (a functional model). */
export function buildOnnxGraph(graph: OnnxGraph, options: OnnxGraphOptions = {}): Uint8Array {
  checkOptions('buildOnnxGraph', graph, ['inputs', 'nodes', 'outputs'], { optional: false });
  checkOptions('buildOnnxGraph', options, ['opset', 'producerVersion', 'graphName']);
  for (const k of ['inputs', 'nodes', 'outputs'] as const) if (!Array.isArray(graph[k])) fail(`graph.${k} must be an array, got ${describe(graph[k])}`);
  if (!graph.inputs.length) fail('the graph has no inputs');
  graph.outputs.forEach((o, i) => {
    if (typeof o?.name !== 'string' || !o.name || typeof o.value !== 'string') fail(`graph.outputs[${i}] must be {name, value} (strings), got ${describe(o)}`);
  });
  if (new Set(graph.outputs.map((o) => o.name)).size !== graph.outputs.length) fail(`output names must be unique, got ${graph.outputs.map((o) => o.name).join(', ')}`);
  const calls = graph.nodes.map((n, i): Call => {
    if (typeof n !== 'object' || n === null || !Array.isArray(n.inputs) || !Array.isArray(n.outputs)) fail(`graph.nodes[${i}] must be {spec, inputs, outputs, name?}, got ${describe(n)}`);
    const type = (n.spec as { type?: unknown } | null)?.type;
    return { ...n, where: `${n.name ? `layer '${n.name}'` : `node ${i}`} (${String(type)})`, prefix: n.name ?? `${String(type)}${i}` };
  });
  return writeGraph(graph.inputs, calls, graph.outputs, options ?? {});
}

/** Builds an ONNX ModelProto for a chain of layers (a sequential model): input `input`, output `output`. */
export function buildOnnxModel(layers: readonly OnnxLayerSpec[], options: OnnxExportOptions): Uint8Array {
  checkOptions('buildOnnxModel', options, ['inputShape', 'inputDType', 'opset', 'producerVersion', 'graphName', 'inputName', 'outputName'], { optional: false });
  if (!Array.isArray(layers)) fail(`the layers must be an array of layer specs, got ${JSON.stringify(layers)}`);
  if (!Array.isArray(options.inputShape)) fail(`options.inputShape must be [timesteps | null, features], got ${JSON.stringify(options.inputShape)}`);
  if (!layers.length) fail('the model has no layers');
  const inputName = options.inputName ?? 'input';
  const calls = layers.map((spec, i): Call => ({
    spec, inputs: [i === 0 ? inputName : `layer ${i - 1}`], outputs: [`layer ${i}`], where: `layer ${i} (${String(spec?.type)})`, prefix: `${String(spec?.type)}${i}`,
  }));
  const { opset, producerVersion, graphName } = options;
  return writeGraph([{ name: inputName, shape: options.inputShape, dtype: options.inputDType }], calls, [{ name: options.outputName ?? 'output', value: `layer ${layers.length - 1}` }], { opset, producerVersion, graphName });
}

/** Writes the chain's model to `file` atomically. */
export function writeOnnxModel(file: string, layers: readonly OnnxLayerSpec[], options: OnnxExportOptions): void {
  writeFileAtomicSync(file, buildOnnxModel(layers, options));
}

/** Writes the graph's model to `file` atomically. */
export function writeOnnxGraph(file: string, graph: OnnxGraph, options: OnnxGraphOptions = {}): void {
  writeFileAtomicSync(file, buildOnnxGraph(graph, options));
}
