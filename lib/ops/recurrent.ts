// The core of ops.gru, ops.lstm and ops.rnn: a whole recurrent network (layers, directions,
// variable lengths, dropout) in one native call on the device of its inputs, with PyTorch's
// parameter names and layouts. The three ops are thin wrappers that pick the cell (cuDNN's mode)
// and name themselves in errors; everything else (checks, lengths, the training state, backward)
// is here, once.
import type { DeviceName, GruReserveHandle, NativeGruConfig, NativeRnnMode, TensorHandle } from '../../binding';
import { describe } from '../backend';
import { DataStorage, NativeResource } from '../engine';
import { native } from '../native';
import { checkOptions } from '../options';
import { Tensor, shapeSize, type Shape } from '../tensor';

/** Parameters keyed by PyTorch's names: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, with `_reverse`. */
export type RecurrentParams = Record<string, Tensor>;

/** The options every recurrent op takes. */
export interface RecurrentOptions {
  /** Hidden size H; inferred from weight_hh_l0 when omitted. */
  hiddenSize?: number;
  /** Default 1. */
  numLayers?: number;
  /** Default false; outputs of both directions are concatenated (forward first). */
  bidirectional?: boolean;
  /** Initial state [numLayers·directions, batch, H]; zeros when omitted. */
  h0?: Tensor;
  /** Per-sample lengths (right-padded batch), each in [0, seqLen]: an int32 tensor [batch] or numbers. */
  lengths?: Tensor | readonly number[] | Int32Array;
  /** Keep what backward needs (default false). */
  training?: boolean;
  /** Dropout probability in [0, 1) on the input of layers 1..numLayers−1, training only (default 0). */
  dropout?: number;
  /** Dropout seed, an integer in [0, 2^53): the same seed gives the same masks. Random when omitted. */
  seed?: number;
  /** Allow backward() more than once (the state then lives until dispose()). Default false. */
  retainState?: boolean;
  /**
   * Whether backward() computes dx (default true). false where x is data that needs no gradient
   * (PyTorch's requires_grad = false): backward's dx is then null, and the CPU engine skips the
   * first layer's input-gradient GEMM (a sixth of a one-layer GRU's training FLOPs when
   * inputSize = H).
   */
  inputGradient?: boolean;
}

/** What distinguishes one recurrent op from another. */
export interface CellSpec {
  /** The op's name in errors: 'gru', 'lstm', 'rnn'. */
  readonly op: string;
  readonly mode: NativeRnnMode;
  /** Gate blocks per weight matrix (rows = gates·H). */
  readonly gates: number;
  /** The LSTM's cell state c (c0, cN, dcN, dc0). */
  readonly cellState: boolean;
  /** Options beyond RecurrentOptions that the op reads itself (e.g. rnn's activation). */
  readonly extraOptions: readonly string[];
}

export interface RecurrentGradients {
  /** [batch, seqLen, inputSize]; null when the forward had options.inputGradient = false. */
  dx: Tensor | null;
  /** [numLayers·directions, batch, H] */
  dh0: Tensor;
  /** LSTM: [numLayers·directions, batch, H] */
  dc0?: Tensor;
  /** Same keys and shapes as the params. */
  dParams: RecurrentParams;
}

export interface RecurrentResult {
  /** [batch, seqLen, directions·H]; zero at padded steps. */
  output: Tensor;
  /** [numLayers·directions, batch, H]: the state after each sample's last valid step. */
  hN: Tensor;
  /** LSTM: the cell state after each sample's last valid step. */
  cN?: Tensor;
  /** Training mode: what backward needs, a disposable resource (tidy() and dispose() free it). */
  state?: NativeResource;
  backward(dOutput?: Tensor | null, dhN?: Tensor | null, dcN?: Tensor | null): RecurrentGradients;
}

/** The bounds the native bindings apply (native/bindings/gru_bindings.cpp). */
const MAX_LAYERS = 65536;
const MAX_SIZE = 1 << 24;

/**
 * A count or size argument of a public helper, checked before anything loops over or allocates
 * by it: `1e308` layers or a Date would otherwise run until V8 runs out of memory.
 */
function sizeArgument(fn: string, name: string, value: unknown, max: number): number {
  if (typeof value !== 'number') throw new TypeError(`${fn}: argument ${name} must be an integer in [1, ${max}], got ${describe(value)}`);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${fn}: argument ${name} must be an integer in [1, ${max}], got ${describe(value)}`);
  }
  return value;
}

function flagArgument(fn: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${fn}: argument ${name} must be a boolean, got ${describe(value)}`);
  return value;
}

/** The parameter names, in canonical (cuDNN/PyTorch) order; `fn` names the public helper in errors. */
export function recurrentParamNames(fn: string, numLayers: number, bidirectional: boolean): string[] {
  sizeArgument(fn, 'numLayers', numLayers, MAX_LAYERS);
  flagArgument(fn, 'bidirectional', bidirectional);
  const names: string[] = [];
  for (let l = 0; l < numLayers; l++) {
    for (const suffix of bidirectional ? ['', '_reverse'] : ['']) {
      for (const kind of ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh']) names.push(`${kind}_l${l}${suffix}`);
    }
  }
  return names;
}

/** The shape of each parameter, keyed like recurrentParamNames(). */
export function recurrentParamShapes(
  fn: string,
  gates: number,
  inputSize: number,
  hiddenSize: number,
  numLayers: number,
  bidirectional: boolean,
): Record<string, number[]> {
  sizeArgument(fn, 'inputSize', inputSize, MAX_SIZE);
  sizeArgument(fn, 'hiddenSize', hiddenSize, MAX_SIZE);
  const D = bidirectional ? 2 : 1;
  const shapes: Record<string, number[]> = {};
  for (const name of recurrentParamNames(fn, numLayers, bidirectional)) {
    const layer = Number(/_l(\d+)/.exec(name)![1]);
    const inSize = layer === 0 ? inputSize : D * hiddenSize;
    if (name.startsWith('weight_ih')) shapes[name] = [gates * hiddenSize, inSize];
    else if (name.startsWith('weight_hh')) shapes[name] = [gates * hiddenSize, hiddenSize];
    else shapes[name] = [gates * hiddenSize];
  }
  return shapes;
}

/** A network's parameter names, shapes and shape descriptions (for errors), in canonical order. */
interface ParamLayout {
  names: readonly string[];
  shapes: Readonly<Record<string, readonly number[]>>;
  forms: readonly string[];
}
// Per network shape, made once: building the names and shapes anew was a tenth of a batch-1
// forward's time in JS. Bounded: cleared when full (a process with more network shapes than this
// builds them again).
const layouts = new Map<string, ParamLayout>();
const MAX_LAYOUTS = 256;

function paramLayout(op: string, gates: number, inputSize: number, hiddenSize: number, numLayers: number, bidirectional: boolean): ParamLayout {
  const key = `${gates} ${inputSize} ${hiddenSize} ${numLayers} ${bidirectional}`;
  let layout = layouts.get(key);
  if (!layout) {
    const shapes = recurrentParamShapes(op, gates, inputSize, hiddenSize, numLayers, bidirectional);
    const rows = gates === 1 ? 'H' : `${gates}·H`;
    const names = Object.keys(shapes);
    const forms = names.map((name) => (name.startsWith('bias') ? `[${rows}]` : name.startsWith('weight_hh') ? `[${rows}, H]` : `[${rows}, inputWidth]`));
    if (layouts.size >= MAX_LAYOUTS) layouts.clear();
    layout = { names, shapes, forms };
    layouts.set(key, layout);
  }
  return layout;
}

const RECURRENT_OPTIONS = ['hiddenSize', 'numLayers', 'bidirectional', 'h0', 'lengths', 'training', 'dropout', 'seed', 'retainState', 'inputGradient'];

function sameShape(a: Shape, b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Runs `fn` with a temporary CPU int32 handle holding `lengths` (freed afterwards). */
function withLengths<T>(lengths: Int32Array | null, fn: (handle: TensorHandle | null) => T): T {
  if (!lengths) return fn(null);
  const handle = native.alloc('cpu', 'int32', lengths.length, lengths);
  try {
    return fn(handle);
  } finally {
    native.free(handle);
  }
}

function wrap(handle: TensorHandle, device: DeviceName, shape: readonly number[]): Tensor {
  return new Tensor(new DataStorage(handle, device, 'float32', shapeSize(shape)), shape);
}

/** The argument checks of one call, each error prefixed with the op's name. */
class Checker {
  constructor(private readonly op: string) {}

  fail(kind: 'type' | 'range', message: string): never {
    throw kind === 'type' ? new TypeError(`${this.op}: ${message}`) : new RangeError(`${this.op}: ${message}`);
  }

  tensor(value: unknown, name: string): Tensor {
    if (!(value instanceof Tensor)) this.fail('type', `${name} must be a Tensor, got ${describe(value)}`);
    if (value.isDisposed) throw new Error(`${this.op}: ${name} (tensor ${value.id}) was disposed and cannot be used`);
    return value;
  }

  float(t: Tensor, name: string, shape: readonly number[], shapeNames: string): void {
    if (t.dtype !== 'float32') this.fail('type', `${name} must be a float32 tensor, got ${t.dtype}`);
    if (!sameShape(t.shape, shape)) this.fail('range', `${name} must have shape ${shapeNames} = [${shape}], got [${t.shape}]`);
  }

  /** An optional float32 tensor of `shape` on `device`; null when absent. */
  optional(value: Tensor | null | undefined, name: string, shape: readonly number[], shapeNames: string, device: DeviceName): Tensor | null {
    if (value === undefined || value === null) return null;
    const t = this.tensor(value, name);
    this.float(t, name, shape, shapeNames);
    if (t.device !== device) this.fail('type', `${name} is on ${t.device} but x is on ${device}; all inputs must be on one device`);
    return t;
  }

  integer(value: unknown, name: string, min: number, max: number, fallback: number): number {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail('type', `options.${name} must be an integer in [${min}, ${max}], got ${describe(value)}`);
    }
    return value;
  }

  boolean(value: unknown, name: string): boolean {
    if (value === undefined) return false;
    if (typeof value !== 'boolean') this.fail('type', `options.${name} must be a boolean, got ${describe(value)}`);
    return value;
  }

  lengths(value: RecurrentOptions['lengths'], batch: number, seqLen: number): Int32Array | null {
    if (value === undefined || value === null) return null;
    let data: ArrayLike<number>;
    if (value instanceof Tensor) {
      if (value.isDisposed) throw new Error(`${this.op}: options.lengths (tensor ${value.id}) was disposed and cannot be used`);
      if (value.dtype !== 'int32') this.fail('type', `options.lengths must be an int32 tensor or an array of integers, got a ${value.dtype} tensor`);
      if (value.rank !== 1 || value.shape[0] !== batch) this.fail('range', `options.lengths must have shape [batch] = [${batch}], got [${value.shape}]`);
      data = value.dataSync();
    } else if (Array.isArray(value) || value instanceof Int32Array) {
      if (value.length !== batch) this.fail('range', `options.lengths must have batch = ${batch} entries, got ${value.length}`);
      data = value;
    } else {
      this.fail('type', `options.lengths must be an int32 tensor or an array of integers, got ${describe(value)}`);
    }
    const out = new Int32Array(batch);
    for (let b = 0; b < batch; b++) {
      const v = data[b];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > seqLen) {
        this.fail('range', `options.lengths[${b}] = ${describe(v)} is outside the allowed range [0, ${seqLen}] (seqLen); each sample's length must be an integer in that range`);
      }
      out[b] = v;
    }
    return out;
  }
}

/**
 * A recurrent network of `spec`'s cell over a batch-major sequence x [batch, seqLen, inputSize].
 * Returns the output sequence and final states as new tensors (and, with training: true, a state
 * for backward()). `options` may also hold spec.extraOptions (read by the caller); c0 is the LSTM's.
 */
export function runRecurrent(spec: CellSpec, x: Tensor, params: RecurrentParams, options: RecurrentOptions & { c0?: Tensor }): RecurrentResult {
  const { op, gates } = spec;
  const check = new Checker(op);
  check.tensor(x, 'argument x');
  if (x.dtype !== 'float32') check.fail('type', `argument x must be a float32 tensor, got ${x.dtype}`);
  if (x.rank !== 3) check.fail('range', `argument x must have shape [batch, seqLen, inputSize], got [${x.shape}]`);
  const [batch, seqLen, inputSize] = x.shape as [number, number, number];
  if (batch < 1 || seqLen < 1 || inputSize < 1) check.fail('range', `argument x must have no zero dimension, got shape [${x.shape}]`);
  if (typeof params !== 'object' || params === null || Array.isArray(params) || params instanceof Tensor) {
    check.fail('type', `argument params must be a record of tensors keyed by PyTorch's names (weight_ih_l0, ...), got ${describe(params)}`);
  }
  if (typeof options !== 'object' || options === null) check.fail('type', `argument options must be an object, got ${describe(options)}`);
  checkOptions(op, options, [...RECURRENT_OPTIONS, ...(spec.cellState ? ['c0'] : []), ...spec.extraOptions]);

  const rows = gates === 1 ? 'H' : `${gates}·H`;
  const numLayers = check.integer(options.numLayers, 'numLayers', 1, MAX_LAYERS, 1);
  const bidirectional = check.boolean(options.bidirectional, 'bidirectional');
  const training = check.boolean(options.training, 'training');
  const retainState = check.boolean(options.retainState, 'retainState');
  const inputGradient = options.inputGradient === undefined || check.boolean(options.inputGradient, 'inputGradient');
  let inferredHidden = 0;
  const whh = params.weight_hh_l0;
  if (options.hiddenSize === undefined && whh instanceof Tensor && whh.rank === 2) inferredHidden = whh.shape[1]!;
  if (options.hiddenSize === undefined && !inferredHidden) check.fail('type', `options.hiddenSize is required (or pass weight_hh_l0 of shape [${rows}, H])`);
  const hiddenSize = check.integer(options.hiddenSize, 'hiddenSize', 1, MAX_SIZE, inferredHidden);
  const dropoutValue = options.dropout ?? 0;
  if (typeof dropoutValue !== 'number' || !(dropoutValue >= 0 && dropoutValue < 1)) {
    check.fail('range', `options.dropout must be a number in [0, 1), got ${describe(options.dropout)}`);
  }
  const seed = check.integer(options.seed, 'seed', 0, Number.MAX_SAFE_INTEGER, Math.floor(Math.random() * 2 ** 52));

  const D = bidirectional ? 2 : 1;
  const device = x.device;
  const { shapes: expected, names, forms } = paramLayout(op, gates, inputSize, hiddenSize, numLayers, bidirectional);
  for (const key of Object.keys(params)) {
    if (!Object.hasOwn(expected, key)) {
      check.fail('type', `params has an unexpected entry '${key}'; for numLayers = ${numLayers}, bidirectional = ${bidirectional} the names are ${names.join(', ')}`);
    }
  }
  const paramTensors = names.map((name, i) => {
    if (!(name in params)) check.fail('type', `params is missing '${name}' (expected ${names.join(', ')})`);
    const t = check.tensor(params[name], `params.${name}`);
    check.float(t, `params.${name}`, expected[name]!, forms[i]!);
    if (t.device !== device) check.fail('type', `params.${name} is on ${t.device} but x is on ${device}; all inputs must be on one device`);
    return t;
  });
  const stateShape = [numLayers * D, batch, hiddenSize];
  const stateNames = '[numLayers·directions, batch, H]';
  const h0 = check.optional(options.h0, 'options.h0', stateShape, stateNames, device);
  const c0 = spec.cellState ? check.optional(options.c0, 'options.c0', stateShape, stateNames, device) : null;
  const lengths = check.lengths(options.lengths, batch, seqLen);

  const config: NativeGruConfig = { mode: spec.mode, inputSize, hiddenSize, numLayers, bidirectional, dropout: dropoutValue, seed, batch, seqLen };
  const handles = () => ({
    x: x.handle(`${op} (argument x)`),
    h0: h0 ? h0.handle(`${op} (options.h0)`) : null,
    c0: c0 ? c0.handle(`${op} (options.c0)`) : null,
    params: paramTensors.map((t, i) => t.handle(`${op} (params.${names[i]})`)),
  });
  const outShape = [batch, seqLen, D * hiddenSize];
  const res = withLengths(lengths, (lh) => {
    const h = handles();
    return native.rnnForward(config, h.x, h.h0, lh, h.params, training, h.c0);
  });
  const output = wrap(res.y, device, outShape);
  const hN = wrap(res.hN, device, stateShape);
  const cN = res.cN ? { cN: wrap(res.cN, device, stateShape) } : {};

  if (!training) {
    return {
      output,
      hN,
      ...cN,
      backward(): RecurrentGradients {
        throw new Error(`${op}: backward() needs a training-mode forward (call ${op} with options.training = true)`);
      },
    };
  }

  const reserve = res.reserve as GruReserveHandle;
  const state = new NativeResource(`${op} training state`, device, res.reserveBytes ?? 0, () => {
    native.rnnReserveFree(reserve);
  });
  let used = false;
  return {
    output,
    hN,
    ...cN,
    state,
    backward(dOutput?: Tensor | null, dhN?: Tensor | null, dcN?: Tensor | null): RecurrentGradients {
      if (state.isDisposed) {
        throw new Error(
          used
            ? `${op}: backward() was already called for this forward; pass options.retainState = true to call it more than once`
            : `${op}: backward() called after the training state was disposed (by dispose() or an enclosing tidy())`,
        );
      }
      const dy = check.optional(dOutput, 'backward argument dOutput', outShape, '[batch, seqLen, directions·H]', device);
      const dh = check.optional(dhN, 'backward argument dhN', stateShape, stateNames, device);
      const dc = spec.cellState ? check.optional(dcN, 'backward argument dcN', stateShape, stateNames, device) : null;
      const g = withLengths(lengths, (lh) => {
        const h = handles();
        return native.rnnBackward(config, h.x, h.h0, lh, h.params, reserve, dy ? dy.handle() : null, dh ? dh.handle() : null, retainState, h.c0, dc ? dc.handle() : null, inputGradient);
      });
      if (!retainState) {
        used = true;
        state.dispose();
      }
      const dParams: RecurrentParams = {};
      names.forEach((name, i) => {
        dParams[name] = wrap(g.dParams[i]!, device, expected[name]!);
      });
      return {
        dx: g.dx ? wrap(g.dx, device, [batch, seqLen, inputSize]) : null,
        dh0: wrap(g.dh0, device, stateShape),
        ...(g.dc0 ? { dc0: wrap(g.dc0, device, stateShape) } : {}),
        dParams,
      };
    },
  };
}
