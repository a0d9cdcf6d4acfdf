// Lifecycle bookkeeping for everything that holds native memory: exact live counts per device,
// tidy() scopes, keep(), and a FinalizationRegistry that frees what users forget.
import type { DeviceName, DTypeName, NativeDeviceMemory, TensorHandle } from '../binding';
import { describe } from './backend';
import { native } from './native';

/** Anything tidy() can dispose. */
export interface Trackable {
  readonly isDisposed: boolean;
  dispose(): void;
}

interface DeviceCounts {
  numTensors: number;
  numDataBuffers: number;
  numResources: number;
  numBytes: number;
}

export interface MemoryInfo {
  /** Live tensors (views sharing one buffer count separately). */
  numTensors: number;
  /** Live tensor data buffers. */
  numDataBuffers: number;
  /** Live native resources that are not tensors (e.g. a GRU's saved training state). */
  numResources: number;
  /** Bytes held by data buffers and resources, all devices. */
  numBytes: number;
  devices: Record<DeviceName, DeviceCounts>;
  /** What the native allocator itself reports, for cross-checking. */
  native: Record<DeviceName, NativeDeviceMemory>;
}

function emptyCounts(): DeviceCounts {
  return { numTensors: 0, numDataBuffers: 0, numResources: 0, numBytes: 0 };
}

const counts: Record<DeviceName, DeviceCounts> = { cpu: emptyCounts(), cuda: emptyCounts() };

/** A native allocation that may be shared by several tensors (views); freed with the last one. */
export class DataStorage {
  private refs = 0;
  readonly bytes: number;

  constructor(
    readonly handle: TensorHandle,
    readonly device: DeviceName,
    readonly dtype: DTypeName,
    readonly numel: number,
  ) {
    this.bytes = numel * 4;
    counts[device].numDataBuffers += 1;
    counts[device].numBytes += this.bytes;
  }

  retain(): void {
    this.refs += 1;
  }

  release(): void {
    this.refs -= 1;
    if (this.refs === 0) {
      native.free(this.handle);
      counts[this.device].numDataBuffers -= 1;
      counts[this.device].numBytes -= this.bytes;
    }
  }
}

// Frees a tensor's share of its storage, or a resource, when the JS object is collected without
// dispose(). The held value never references the collected object itself.
type Finalizer = () => void;
const registry = new FinalizationRegistry<Finalizer>((finalize) => finalize());

/** Counts a new tensor and arranges for it to be freed if it is garbage collected undisposed. */
export function registerTensor(tensor: object, storage: DataStorage): void {
  storage.retain();
  const device = storage.device;
  counts[device].numTensors += 1;
  registry.register(tensor, () => releaseTensor(device, storage), tensor);
  track(tensor as unknown as Trackable);
}

/** Called by Tensor.dispose(). */
export function unregisterTensor(tensor: object, storage: DataStorage): void {
  registry.unregister(tensor);
  releaseTensor(storage.device, storage);
}

function releaseTensor(device: DeviceName, storage: DataStorage): void {
  counts[device].numTensors -= 1;
  storage.release();
}

/**
 * Native memory that is not a tensor but lives like one: disposed explicitly or by tidy(),
 * freed on garbage collection otherwise, and counted by memory().
 */
export class NativeResource implements Trackable {
  private disposed = false;
  private readonly free: Finalizer;

  /** `release` frees the native memory; it must not reference this object. */
  constructor(
    readonly kind: string,
    readonly device: DeviceName,
    readonly bytes: number,
    release: () => void,
  ) {
    if (typeof kind !== 'string') throw new TypeError(`NativeResource: argument 'kind' must be a string, got ${describe(kind)}`);
    if (device !== 'cpu' && device !== 'cuda') throw new TypeError(`NativeResource: argument 'device' must be 'cpu' or 'cuda', got ${describe(device)}`);
    if (!(Number.isSafeInteger(bytes) && bytes >= 0)) throw new TypeError(`NativeResource: argument 'bytes' must be a non-negative integer, got ${describe(bytes)}`);
    if (typeof release !== 'function') throw new TypeError(`NativeResource: argument 'release' must be a function, got ${describe(release)}`);
    const c = counts[device];
    c.numResources += 1;
    c.numBytes += bytes;
    this.free = () => {
      release();
      c.numResources -= 1;
      c.numBytes -= bytes;
    };
    registry.register(this, this.free, this);
    track(this);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    registry.unregister(this);
    this.free();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

// ------------------------------------------------------------------ scopes

interface Scope {
  name: string;
  items: Trackable[];
}

const scopes: Scope[] = [];
const kept = new WeakSet<object>();

function track(item: Trackable): void {
  const scope = scopes[scopes.length - 1];
  if (scope) scope.items.push(item);
}

/** Exempts `item` from disposal by any enclosing (and future) tidy(); returns it. */
export function keep<T extends Trackable>(item: T): T {
  if (!isTrackable(item)) throw new TypeError(`keep: argument 'item' must be a tensor or another disposable resource, got ${describe(item)}`);
  kept.add(item);
  return item;
}

function isTrackable(value: unknown): value is Trackable {
  return typeof value === 'object' && value !== null && typeof (value as Trackable).dispose === 'function' && 'isDisposed' in value;
}

function collectTrackables(value: unknown, into: Set<object>, seen: Set<object>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isTrackable(value)) {
    into.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTrackables(v, into, seen);
  } else if (value instanceof Map) {
    for (const v of value.values()) collectTrackables(v, into, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTrackables(v, into, seen);
  }
}

/** Opens a scope by hand (what tidy() does); pair with endScope(). */
export function startScope(name = 'scope'): void {
  if (typeof name !== 'string') throw new TypeError(`startScope: argument 'name' must be a string, got ${describe(name)}`);
  scopes.push({ name, items: [] });
}

/** Disposes everything tracked since the matching startScope() except `result`'s items and kept ones. */
export function endScope(result?: unknown): void {
  const scope = scopes.pop();
  if (!scope) throw new Error('endScope: no scope is open (startScope/endScope calls are unbalanced)');
  const survivors = new Set<object>();
  collectTrackables(result, survivors, new Set());
  const parent = scopes[scopes.length - 1];
  for (const item of scope.items) {
    if (item.isDisposed) continue;
    if (survivors.has(item)) {
      if (parent) parent.items.push(item);
    } else if (!kept.has(item)) {
      item.dispose();
    }
  }
}

/**
 * Runs `fn` and disposes every tensor and resource it created, except those it returns (in
 * arrays or plain objects) and those passed to keep(). `fn` must be synchronous.
 */
export function tidy<T>(fn: () => T): T;
export function tidy<T>(name: string, fn: () => T): T;
export function tidy<T>(nameOrFn: string | (() => T), maybeFn?: () => T): T {
  const fn = typeof nameOrFn === 'function' ? nameOrFn : maybeFn;
  const name = typeof nameOrFn === 'string' ? nameOrFn : 'tidy';
  if (typeof fn !== 'function') {
    throw new TypeError(`tidy: argument 'fn' must be a function, got ${describe(fn)}`);
  }
  startScope(name);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    endScope();
    throw err;
  }
  if (result instanceof Promise) {
    endScope();
    throw new TypeError(`tidy: '${name}' returned a Promise; tidy() must be given a synchronous function (await outside it)`);
  }
  endScope(result);
  return result;
}

/** Disposes every tracked item in `value` (a tensor, or arrays/objects of them). */
export function dispose(value: unknown): void {
  const items = new Set<object>();
  collectTrackables(value, items, new Set());
  for (const item of items) (item as Trackable).dispose();
}

/** Exact live counts and bytes per device; native allocator figures included for cross-checks. */
export function memory(): MemoryInfo {
  const devices = { cpu: { ...counts.cpu }, cuda: { ...counts.cuda } };
  const total = (k: keyof DeviceCounts) => devices.cpu[k] + devices.cuda[k];
  return {
    numTensors: total('numTensors'),
    numDataBuffers: total('numDataBuffers'),
    numResources: total('numResources'),
    numBytes: total('numBytes'),
    devices,
    native: native.nativeMemory(),
  };
}
