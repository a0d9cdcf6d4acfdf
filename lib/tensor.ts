// Tensors: a shape and dtype over native memory on one device, with an explicit lifecycle.
import type { DeviceName, DTypeName, HostArray, TensorHandle } from '../binding';
import { describe, getDevice } from './backend';
import { DataStorage, registerTensor, unregisterTensor, type Trackable } from './engine';
import { native } from './native';
import { checkOptions } from './options';

export type DType = DTypeName;
export type Shape = readonly number[];
export type TypedArrayFor<D extends DType> = D extends 'int32' ? Int32Array : Float32Array;
/** Nested arrays of numbers, as tensor() accepts and arraySync() returns. */
export type NestedArray = number | NestedArray[];

export interface TensorOptions {
  /** Defaults to the current device (getDevice()). */
  device?: DeviceName;
}

let nextId = 0;

export class Tensor<D extends DType = DType> implements Trackable {
  readonly id = nextId++;
  readonly shape: Shape;
  readonly size: number;
  private storage: DataStorage | null;

  /** @internal Use tensor(), zeros() and friends. */
  constructor(storage: DataStorage, shape: Shape) {
    if (!(storage instanceof DataStorage)) {
      throw new TypeError(`Tensor: the constructor is internal; create tensors with tensor(), zeros(), ones(), fill() or scalar() (got ${describe(storage)})`);
    }
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.size = storage.numel;
    registerTensor(this, storage);
  }

  get dtype(): D {
    return this.live('dtype').dtype as D;
  }
  get device(): DeviceName {
    return this.live('device').device;
  }
  get rank(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return this.storage === null;
  }

  /** @internal The native handle, for ops. Throws when disposed. */
  handle(op = 'op'): TensorHandle {
    return this.live(op).handle;
  }

  /** A copy of the data (blocks until the device is done). */
  dataSync(): TypedArrayFor<D> {
    return native.read(this.live('dataSync').handle) as TypedArrayFor<D>;
  }

  /**
   * A copy of the data as of this call (ordered after the work queued before it; later in-place
   * ops, writes and dispose() do not affect it). On a GPU the device-to-host copy runs off the JS
   * thread, so the event loop stays free while the device finishes.
   */
  data(): Promise<TypedArrayFor<D>> {
    try {
      return native.readAsync(this.live('data').handle) as Promise<TypedArrayFor<D>>;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  arraySync(): NestedArray {
    return toNested(this.dataSync(), this.shape);
  }

  async array(): Promise<NestedArray> {
    return toNested(await this.data(), this.shape);
  }

  /** A tensor of another shape over the same memory (-1 infers one dimension). */
  reshape(shape: Shape): Tensor<D> {
    const storage = this.live('reshape');
    return new Tensor<D>(storage, inferShape('reshape', shape, this.size));
  }

  /** Whether this tensor and `other` are views of the same memory (reshape() makes such views). */
  sharesMemoryWith(other: Tensor): boolean {
    const storage = this.live('sharesMemoryWith');
    if (!(other instanceof Tensor)) throw new TypeError(`sharesMemoryWith: argument 'other' must be a Tensor, got ${describe(other)}`);
    return other.live('sharesMemoryWith') === storage;
  }

  /** A copy in new memory, on `device` (default: this tensor's device). */
  clone(device?: DeviceName): Tensor<D> {
    return this.copy('clone', device ?? this.live('clone').device);
  }

  /** This tensor on `device`: itself when already there, otherwise a copy. */
  to(device: DeviceName): Tensor<D> {
    return device === this.live('to').device ? this : this.copy('to', device);
  }

  private copy(op: string, device: unknown): Tensor<D> {
    const storage = this.live(op);
    checkDevice(op, device, 'argument');
    const handle = nativeCall(op, () => native.copyTo(storage.handle, device));
    return new Tensor<D>(new DataStorage(handle, device, storage.dtype, storage.numel), this.shape);
  }

  /** Frees the memory (shared with views until the last of them is disposed). Idempotent. */
  dispose(): void {
    const storage = this.storage;
    if (!storage) return;
    this.storage = null;
    unregisterTensor(this, storage);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    if (!this.storage) return `Tensor(disposed, shape=[${this.shape}])`;
    return `Tensor(shape=[${this.shape}], dtype=${this.storage.dtype}, device=${this.storage.device})`;
  }

  private live(op: string): DataStorage {
    if (!this.storage) {
      throw new Error(`${op}: tensor ${this.id} (shape [${this.shape}]) was disposed and cannot be used`);
    }
    return this.storage;
  }
}

// ------------------------------------------------------------------ creation

/** The most dimensions a tensor (or a nested array given to tensor()) may have. */
const MAX_RANK = 64;
/** The most elements a shape may describe (far beyond any memory; keeps sizes exact integers). */
const MAX_ELEMENTS = 2 ** 48;

function checkDevice(op: string, device: unknown, kind: 'option' | 'argument' = 'option'): asserts device is DeviceName {
  if (device !== 'cpu' && device !== 'cuda') {
    throw new TypeError(`${op}: ${kind} 'device' must be 'cpu' or 'cuda', got ${describe(device)}`);
  }
}

function checkDType(op: string, dtype: unknown): asserts dtype is DType {
  if (dtype !== 'float32' && dtype !== 'int32') {
    throw new TypeError(`${op}: argument 'dtype' must be 'float32' or 'int32', got ${describe(dtype)}`);
  }
}

function describeShape(shape: unknown): string {
  if (!Array.isArray(shape)) return describe(shape);
  const items = Array.from({ length: Math.min(shape.length, 8) }, (_, i) => (i in shape ? (typeof shape[i] === 'number' ? String(shape[i]) : describe(shape[i])) : '<hole>'));
  return `[${items.join(', ')}${shape.length > 8 ? ', ...' : ''}]`;
}

/**
 * Checks that `shape` is a dense array (no holes) of at most MAX_RANK non-negative integers; with
 * `allowInfer`, one entry may be -1. Loops by index: every()/forEach() skip holes.
 */
function checkShape(op: string, shape: unknown, allowInfer = false): asserts shape is Shape {
  const expected = `an array of non-negative integers${allowInfer ? ' (one may be -1)' : ''}, at most ${MAX_RANK} of them`;
  if (!Array.isArray(shape)) throw new TypeError(`${op}: argument 'shape' must be ${expected}, got ${describe(shape)}`);
  if (shape.length > MAX_RANK) throw new RangeError(`${op}: argument 'shape' must be ${expected}, got ${shape.length} dimensions`);
  let size = 1;
  let inferred = 0;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (!(i in shape)) throw new TypeError(`${op}: argument 'shape' ${describeShape(shape)} has a hole at index ${i}; it must be ${expected}`);
    if (allowInfer && d === -1 && inferred++ === 0) continue;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new TypeError(`${op}: argument 'shape' must be ${expected}, got ${describeShape(shape)} (shape[${i}] is ${describe(d)})`);
    }
    size *= d;
  }
  if (size > MAX_ELEMENTS) throw new RangeError(`${op}: argument 'shape' ${describeShape(shape)} describes ${size} elements, more than the ${MAX_ELEMENTS} a tensor may have`);
}

export function shapeSize(shape: Shape): number {
  if (!Array.isArray(shape)) throw new TypeError(`shapeSize: argument 'shape' must be an array of numbers, got ${describe(shape)}`);
  return shape.reduce((a, b) => a * b, 1);
}

function inferShape(op: string, shape: Shape, size: number): number[] {
  checkShape(op, shape, true);
  const knownSize = shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
  const out = shape.map((d) => (d === -1 ? (knownSize === 0 ? 0 : size / knownSize) : d));
  if (shapeSize(out) !== size || out.some((d) => !Number.isInteger(d))) {
    throw new TypeError(`${op}: cannot view ${size} elements as shape [${shape}]`);
  }
  return out;
}

/** Runs a native call, prefixing its error with `op` (e.g. 'zeros: CUDA is not available: ...'). */
function nativeCall<T>(op: string, call: () => T): T {
  try {
    return call();
  } catch (err) {
    if (!(err instanceof Error) || err.message.startsWith(`${op}:`)) throw err;
    const Class = err instanceof RangeError ? RangeError : err instanceof TypeError ? TypeError : Error;
    throw new Class(`${op}: ${err.message}`, { cause: err });
  }
}

function fromHost<D extends DType>(op: string, data: HostArray, shape: Shape, dtype: D, device: DeviceName): Tensor<D> {
  const handle = nativeCall(op, () => native.alloc(device, dtype, data.length, data));
  return new Tensor<D>(new DataStorage(handle, device, dtype, data.length), shape);
}

/** Shape and row-major values of (nested) numbers; holes, ragged rows and deep nesting are errors. */
function flattenNested(op: string, values: NestedArray): { flat: number[]; shape: number[] } {
  const shape: number[] = [];
  let level: unknown = values;
  while (Array.isArray(level)) {
    if (shape.length === MAX_RANK) throw new RangeError(`${op}: argument 'values' is nested more than ${MAX_RANK} arrays deep (a tensor has at most ${MAX_RANK} dimensions)`);
    shape.push(level.length);
    level = level[0];
  }
  const flat: number[] = [];
  const walk = (v: unknown, depth: number, where: string): void => {
    if (depth === shape.length) {
      if (typeof v !== 'number') throw new TypeError(`${op}: argument 'values'${where} must be a number, got ${describe(v)}`);
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      throw new TypeError(`${op}: argument 'values' is not rectangular: values${where} should be an array of length ${shape[depth]}, got ${describe(v)}`);
    }
    for (let i = 0; i < v.length; i++) {
      if (!(i in v)) throw new TypeError(`${op}: argument 'values'${where} has a hole at index ${i}; every element must be given`);
      walk(v[i], depth + 1, `${where}[${i}]`);
    }
  };
  walk(values, 0, '');
  return { flat, shape };
}

const TENSOR_OPTIONS = ['device'] as const;

function deviceOption(op: string, options: TensorOptions | undefined): DeviceName {
  checkOptions(op, options, TENSOR_OPTIONS);
  const device = options?.device ?? getDevice();
  checkDevice(op, device);
  return device;
}

function makeTensor<D extends DType>(op: string, values: unknown, shape: Shape | undefined, dtype: D | undefined, options: TensorOptions | undefined): Tensor<D> {
  const resolvedDType = (dtype ?? (values instanceof Int32Array ? 'int32' : 'float32')) as D;
  checkDType(op, resolvedDType);
  if (shape !== undefined) checkShape(op, shape);
  const device = deviceOption(op, options);
  let flat: ArrayLike<number>;
  let inferred: number[];
  if (values instanceof Float32Array || values instanceof Int32Array) {
    flat = values;
    inferred = [values.length];
  } else if (typeof values === 'number' || Array.isArray(values)) {
    ({ flat, shape: inferred } = flattenNested(op, values as NestedArray));
  } else {
    throw new TypeError(`${op}: argument 'values' must be a number, a nested array of numbers, a Float32Array or an Int32Array, got ${describe(values)}`);
  }
  const finalShape = shape ?? inferred;
  if (shapeSize(finalShape) !== flat.length) {
    throw new TypeError(`${op}: argument 'values' has ${flat.length} elements but shape [${finalShape}] needs ${shapeSize(finalShape)}`);
  }
  let host: HostArray;
  if (resolvedDType === 'int32') {
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) {
        throw new TypeError(`${op}: int32 tensor values must be integers in the int32 range; element ${i} is ${v}`);
      }
    }
    host = values instanceof Int32Array ? values : Int32Array.from(flat);
  } else {
    host = values instanceof Float32Array ? values : Float32Array.from(flat);
  }
  return fromHost(op, host, finalShape, resolvedDType, device);
}

/**
 * A tensor from a typed array or (nested) numbers. `shape` defaults to the nesting of `values`
 * (or [n] for a flat typed array); `dtype` defaults to int32 for an Int32Array, else float32.
 */
export function tensor<D extends DType = 'float32'>(
  values: NestedArray | Float32Array | Int32Array,
  shape?: Shape,
  dtype?: D,
  options?: TensorOptions,
): Tensor<D> {
  return makeTensor('tensor', values, shape, dtype, options);
}

export function scalar(value: number, dtype: DType = 'float32', options?: TensorOptions): Tensor {
  if (typeof value !== 'number') throw new TypeError(`scalar: argument 'value' must be a number, got ${describe(value)}`);
  return makeTensor('scalar', value, [], dtype, options);
}

/** @internal A zero-filled tensor, argument errors naming `op`. */
export function allocate<D extends DType>(op: string, shape: Shape, dtype: D, device: DeviceName): Tensor<D> {
  checkShape(op, shape);
  checkDType(op, dtype);
  checkDevice(op, device, 'argument');
  const numel = shapeSize(shape);
  const handle = nativeCall(op, () => native.alloc(device, dtype, numel));
  return new Tensor<D>(new DataStorage(handle, device, dtype, numel), shape);
}

/** A tensor of zeros. */
export function zeros<D extends DType = 'float32'>(shape: Shape, dtype?: D, options?: TensorOptions): Tensor<D> {
  checkShape('zeros', shape);
  return allocate('zeros', shape, (dtype ?? 'float32') as D, deviceOption('zeros', options));
}

/** A tensor with every element equal to `value`. */
export function fill<D extends DType = 'float32'>(shape: Shape, value: number, dtype?: D, options?: TensorOptions): Tensor<D> {
  return filled('fill', shape, value, dtype, options);
}

export function ones<D extends DType = 'float32'>(shape: Shape, dtype?: D, options?: TensorOptions): Tensor<D> {
  return filled('ones', shape, 1, dtype, options);
}

function filled<D extends DType>(op: string, shape: Shape, value: number, dtype: D | undefined, options: TensorOptions | undefined): Tensor<D> {
  checkShape(op, shape);
  const resolved = (dtype ?? 'float32') as D;
  checkDType(op, resolved);
  if (typeof value !== 'number') throw new TypeError(`${op}: argument 'value' must be a number, got ${describe(value)}`);
  if (resolved === 'int32' && !(Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31)) {
    throw new TypeError(`${op}: argument 'value' must be an integer in the int32 range for an int32 tensor, got ${value}`);
  }
  if (resolved === 'float32') {
    // Filled where it lives: no host array of the whole size (and no upload for a GPU tensor).
    const t = allocate(op, shape, resolved, deviceOption(op, options));
    try {
      if (value !== 0) nativeCall(op, () => native.opsFill(t.handle(op), value));
    } catch (err) {
      t.dispose();
      throw err;
    }
    return t;
  }
  let host: Int32Array;
  try {
    host = new Int32Array(shapeSize(shape));
  } catch {
    throw new RangeError(`${op}: argument 'shape' [${shape}] is too large for an int32 tensor filled on the host (${shapeSize(shape)} elements)`);
  }
  host.fill(value);
  return makeTensor(op, host, shape, resolved, options);
}

function toNested(data: ArrayLike<number>, shape: Shape): NestedArray {
  if (shape.length === 0) return data[0];
  const build = (offset: number, dim: number): NestedArray[] => {
    const n = shape[dim];
    if (dim === shape.length - 1) return Array.from({ length: n }, (_, i) => data[offset + i]);
    const stride = shapeSize(shape.slice(dim + 1));
    return Array.from({ length: n }, (_, i) => build(offset + i * stride, dim + 1));
  };
  return build(0, 0);
}
