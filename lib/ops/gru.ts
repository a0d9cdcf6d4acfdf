// ops.gru: a whole GRU network (layers, directions, variable lengths, dropout) in one native call,
// on the device of its inputs: cuDNN on CUDA, the BLAS engine on the CPU. Same maths as PyTorch's
// nn.GRU / cuDNN's CUDNN_GRU; parameters use PyTorch's names and layouts.
import type { DeviceName, GruReserveHandle, NativeGruConfig, TensorHandle } from '../../binding';
import { describe } from '../backend';
import { DataStorage, NativeResource } from '../engine';
import { native } from '../native';
import { Tensor, shapeSize, type Shape } from '../tensor';

/** Parameters keyed by PyTorch's names: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, with `_reverse`. */
export type GruParams = Record<string, Tensor>;

export interface GruOptions {
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
}

export interface GruGradients {
  /** [batch, seqLen, inputSize] */
  dx: Tensor;
  /** [numLayers·directions, batch, H] */
  dh0: Tensor;
  /** Same keys and shapes as the params. */
  dParams: GruParams;
}

export interface GruResult {
  /** [batch, seqLen, directions·H]; zero at padded steps. */
  output: Tensor;
  /** [numLayers·directions, batch, H]: the state after each sample's last valid step. */
  hN: Tensor;
  /** Training mode: what backward needs, a disposable resource (tidy() and dispose() free it). */
  state?: NativeResource;
  /**
   * Gradients of sum(output·dOutput) + sum(hN·dhN) (omitted cotangents are zeros). Needs a
   * training-mode forward whose inputs (x, h0, params) are still alive. Frees the state unless
   * retainState was set.
   */
  backward(dOutput?: Tensor | null, dhN?: Tensor | null): GruGradients;
}

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

/** The bounds the native bindings apply (native/bindings/gru_bindings.cpp). */
const MAX_LAYERS = 65536;
const MAX_SIZE = 1 << 24;

/** The parameter names gru() expects, in canonical (cuDNN/PyTorch) order. */
export function gruParamNames(numLayers = 1, bidirectional = false): string[] {
  sizeArgument('gruParamNames', 'numLayers', numLayers, MAX_LAYERS);
  flagArgument('gruParamNames', 'bidirectional', bidirectional);
  const names: string[] = [];
  for (let l = 0; l < numLayers; l++) {
    for (const suffix of bidirectional ? ['', '_reverse'] : ['']) {
      for (const kind of ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh']) names.push(`${kind}_l${l}${suffix}`);
    }
  }
  return names;
}

/** The shape of each parameter, keyed like gruParamNames(). */
export function gruParamShapes(inputSize: number, hiddenSize: number, numLayers = 1, bidirectional = false): Record<string, number[]> {
  sizeArgument('gruParamShapes', 'inputSize', inputSize, MAX_SIZE);
  sizeArgument('gruParamShapes', 'hiddenSize', hiddenSize, MAX_SIZE);
  sizeArgument('gruParamShapes', 'numLayers', numLayers, MAX_LAYERS);
  flagArgument('gruParamShapes', 'bidirectional', bidirectional);
  const D = bidirectional ? 2 : 1;
  const shapes: Record<string, number[]> = {};
  for (const name of gruParamNames(numLayers, bidirectional)) {
    const layer = Number(/_l(\d+)/.exec(name)![1]);
    const inSize = layer === 0 ? inputSize : D * hiddenSize;
    if (name.startsWith('weight_ih')) shapes[name] = [3 * hiddenSize, inSize];
    else if (name.startsWith('weight_hh')) shapes[name] = [3 * hiddenSize, hiddenSize];
    else shapes[name] = [3 * hiddenSize];
  }
  return shapes;
}

const OP = 'gru';

function fail(kind: 'type' | 'range', message: string): never {
  throw kind === 'type' ? new TypeError(`${OP}: ${message}`) : new RangeError(`${OP}: ${message}`);
}

function sameShape(a: Shape, b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkTensor(value: unknown, name: string): Tensor {
  if (!(value instanceof Tensor)) fail('type', `${name} must be a Tensor, got ${describe(value)}`);
  if (value.isDisposed) throw new Error(`${OP}: ${name} (tensor ${value.id}) was disposed and cannot be used`);
  return value;
}

function checkFloat(t: Tensor, name: string, shape: readonly number[], shapeNames: string): void {
  if (t.dtype !== 'float32') fail('type', `${name} must be a float32 tensor, got ${t.dtype}`);
  if (!sameShape(t.shape, shape)) fail('range', `${name} must have shape ${shapeNames} = [${shape}], got [${t.shape}]`);
}

function integerOption(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail('type', `options.${name} must be an integer in [${min}, ${max}], got ${describe(value)}`);
  }
  return value;
}

function booleanOption(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') fail('type', `options.${name} must be a boolean, got ${describe(value)}`);
  return value;
}

function readLengths(value: GruOptions['lengths'], batch: number, seqLen: number): Int32Array | null {
  if (value === undefined || value === null) return null;
  let data: ArrayLike<number>;
  if (value instanceof Tensor) {
    if (value.isDisposed) throw new Error(`${OP}: options.lengths (tensor ${value.id}) was disposed and cannot be used`);
    if (value.dtype !== 'int32') fail('type', `options.lengths must be an int32 tensor or an array of integers, got a ${value.dtype} tensor`);
    if (value.rank !== 1 || value.shape[0] !== batch) fail('range', `options.lengths must have shape [batch] = [${batch}], got [${value.shape}]`);
    data = value.dataSync();
  } else if (Array.isArray(value) || value instanceof Int32Array) {
    if (value.length !== batch) fail('range', `options.lengths must have batch = ${batch} entries, got ${value.length}`);
    data = value;
  } else {
    fail('type', `options.lengths must be an int32 tensor or an array of integers, got ${describe(value)}`);
  }
  const out = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    const v = data[b];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > seqLen) {
      fail('range', `options.lengths[${b}] = ${describe(v)} is outside the allowed range [0, ${seqLen}] (seqLen); each sample's length must be an integer in that range`);
    }
    out[b] = v;
  }
  return out;
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

/**
 * A GRU network over a batch-major sequence x [batch, seqLen, inputSize]. Returns the output
 * sequence and final states as new tensors (and, with training: true, a state for backward()).
 */
export function gru(x: Tensor, params: GruParams, options: GruOptions = {}): GruResult {
  checkTensor(x, 'argument x');
  if (x.dtype !== 'float32') fail('type', `argument x must be a float32 tensor, got ${x.dtype}`);
  if (x.rank !== 3) fail('range', `argument x must have shape [batch, seqLen, inputSize], got [${x.shape}]`);
  const [batch, seqLen, inputSize] = x.shape as [number, number, number];
  if (batch < 1 || seqLen < 1 || inputSize < 1) fail('range', `argument x must have no zero dimension, got shape [${x.shape}]`);
  if (typeof params !== 'object' || params === null || Array.isArray(params) || params instanceof Tensor) {
    fail('type', `argument params must be a record of tensors keyed by PyTorch's names (weight_ih_l0, ...), got ${describe(params)}`);
  }
  if (typeof options !== 'object' || options === null) fail('type', `argument options must be an object, got ${describe(options)}`);

  const numLayers = integerOption(options.numLayers, 'numLayers', 1, MAX_LAYERS, 1);
  const bidirectional = booleanOption(options.bidirectional, 'bidirectional');
  const training = booleanOption(options.training, 'training');
  const retainState = booleanOption(options.retainState, 'retainState');
  let inferredHidden = 0;
  const whh = params.weight_hh_l0;
  if (options.hiddenSize === undefined && whh instanceof Tensor && whh.rank === 2) inferredHidden = whh.shape[1]!;
  if (options.hiddenSize === undefined && !inferredHidden) fail('type', 'options.hiddenSize is required (or pass weight_hh_l0 of shape [3·H, H])');
  const hiddenSize = integerOption(options.hiddenSize, 'hiddenSize', 1, MAX_SIZE, inferredHidden);
  const dropoutValue = options.dropout ?? 0;
  if (typeof dropoutValue !== 'number' || !(dropoutValue >= 0 && dropoutValue < 1)) {
    fail('range', `options.dropout must be a number in [0, 1), got ${describe(options.dropout)}`);
  }
  const seed = integerOption(options.seed, 'seed', 0, Number.MAX_SAFE_INTEGER, Math.floor(Math.random() * 2 ** 52));

  const D = bidirectional ? 2 : 1;
  const device = x.device;
  const expected = gruParamShapes(inputSize, hiddenSize, numLayers, bidirectional);
  const names = Object.keys(expected);
  for (const key of Object.keys(params)) {
    if (!(key in expected)) {
      fail('type', `params has an unexpected entry '${key}'; for numLayers = ${numLayers}, bidirectional = ${bidirectional} the names are ${names.join(', ')}`);
    }
  }
  const paramTensors = names.map((name) => {
    if (!(name in params)) fail('type', `params is missing '${name}' (expected ${names.join(', ')})`);
    const t = checkTensor(params[name], `params.${name}`);
    checkFloat(t, `params.${name}`, expected[name]!, name.startsWith('bias') ? '[3·H]' : name.startsWith('weight_hh') ? '[3·H, H]' : '[3·H, inputWidth]');
    if (t.device !== device) fail('type', `params.${name} is on ${t.device} but x is on ${device}; all inputs must be on one device`);
    return t;
  });
  const stateShape = [numLayers * D, batch, hiddenSize];
  let h0: Tensor | null = null;
  if (options.h0 !== undefined && options.h0 !== null) {
    h0 = checkTensor(options.h0, 'options.h0');
    checkFloat(h0, 'options.h0', stateShape, '[numLayers·directions, batch, H]');
    if (h0.device !== device) fail('type', `options.h0 is on ${h0.device} but x is on ${device}; all inputs must be on one device`);
  }
  const lengths = readLengths(options.lengths, batch, seqLen);

  const config: NativeGruConfig = { inputSize, hiddenSize, numLayers, bidirectional, dropout: dropoutValue, seed, batch, seqLen };
  const handles = () => ({
    x: x.handle(`${OP} (argument x)`),
    h0: h0 ? h0.handle(`${OP} (options.h0)`) : null,
    params: paramTensors.map((t, i) => t.handle(`${OP} (params.${names[i]})`)),
  });
  const outShape = [batch, seqLen, D * hiddenSize];
  const res = withLengths(lengths, (lh) => {
    const h = handles();
    return native.gruForward(config, h.x, h.h0, lh, h.params, training);
  });
  const output = wrap(res.y, device, outShape);
  const hN = wrap(res.hN, device, stateShape);

  if (!training) {
    return {
      output,
      hN,
      backward(): GruGradients {
        throw new Error(`${OP}: backward() needs a training-mode forward (call gru with options.training = true)`);
      },
    };
  }

  const reserve = res.reserve as GruReserveHandle;
  const state = new NativeResource('gru training state', device, res.reserveBytes ?? 0, () => {
    native.gruReserveFree(reserve);
  });
  let used = false;
  return {
    output,
    hN,
    state,
    backward(dOutput?: Tensor | null, dhN?: Tensor | null): GruGradients {
      if (state.isDisposed) {
        throw new Error(
          used
            ? `${OP}: backward() was already called for this forward; pass options.retainState = true to call it more than once`
            : `${OP}: backward() called after the training state was disposed (by dispose() or an enclosing tidy())`,
        );
      }
      let dy: Tensor | null = null;
      let dh: Tensor | null = null;
      if (dOutput !== undefined && dOutput !== null) {
        dy = checkTensor(dOutput, 'backward argument dOutput');
        checkFloat(dy, 'backward argument dOutput', outShape, '[batch, seqLen, directions·H]');
        if (dy.device !== device) fail('type', `backward argument dOutput is on ${dy.device} but x is on ${device}`);
      }
      if (dhN !== undefined && dhN !== null) {
        dh = checkTensor(dhN, 'backward argument dhN');
        checkFloat(dh, 'backward argument dhN', stateShape, '[numLayers·directions, batch, H]');
        if (dh.device !== device) fail('type', `backward argument dhN is on ${dh.device} but x is on ${device}`);
      }
      const g = withLengths(lengths, (lh) => {
        const h = handles();
        return native.gruBackward(config, h.x, h.h0, lh, h.params, reserve, dy ? dy.handle() : null, dh ? dh.handle() : null, retainState);
      });
      if (!retainState) {
        used = true;
        state.dispose();
      }
      const dParams: GruParams = {};
      names.forEach((name, i) => {
        dParams[name] = wrap(g.dParams[i]!, device, expected[name]!);
      });
      return { dx: wrap(g.dx, device, [batch, seqLen, inputSize]), dh0: wrap(g.dh0, device, stateShape), dParams };
    },
  };
}
