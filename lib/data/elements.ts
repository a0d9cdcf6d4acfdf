// Dataset elements: a leaf (a number, nested arrays of numbers, a typed array, a host tensor
// {data, shape} or a Tensor) or a plain object of elements ({xs, ys}, or one entry per input name).
// batch() and window() stack leaves into host tensors: plain typed arrays that leak nothing and
// that the training engine places on the model's device itself.
import { describe } from '../backend';
import { isPlainObject } from '../options';
import { Tensor, tensor, shapeSize, type NestedArray } from '../tensor';

/** A tensor's values on the host: row-major `data` of `shape`. */
export interface HostTensor {
  data: Float32Array | Int32Array;
  shape: number[];
}

export type Leaf = number | NestedArray | Float32Array | Int32Array | HostTensor | Tensor;

/** What batch() and window() make of an element: each leaf becomes a host tensor with a new first dimension. */
export type Stacked<T> = T extends Leaf ? HostTensor : { [K in keyof T]: Stacked<T[K]> };

const MAX_DEPTH = 32;

/** `{data, shape}` with a typed or number array and a shape array: a leaf, not an object of elements. */
export function isHostTensor(value: unknown): value is HostTensor {
  return isPlainObject(value) && Array.isArray(value.shape) && (ArrayBuffer.isView(value.data) || Array.isArray(value.data)) && Object.keys(value).length === 2;
}

function isLeaf(value: unknown): boolean {
  return !isPlainObject(value) || isHostTensor(value);
}

/** Calls `visit` on every leaf of an element with its path ('' for a leaf element, '.xs', '.xs.a'). */
function forEachLeaf(element: unknown, visit: (leaf: unknown, path: string) => void, path = '', depth = 0): void {
  if (isLeaf(element)) return visit(element, path);
  if (depth === MAX_DEPTH) throw new RangeError(`Dataset: element${path} is nested more than ${MAX_DEPTH} objects deep`);
  for (const [key, value] of Object.entries(element as Record<string, unknown>)) forEachLeaf(value, visit, `${path}.${key}`, depth + 1);
}

/** The live tensors among an element's leaves. */
function tensorsOf(element: unknown): Set<Tensor> {
  const found = new Set<Tensor>();
  forEachLeaf(element, (leaf) => {
    if (leaf instanceof Tensor && !leaf.isDisposed) found.add(leaf);
  });
  return found;
}

/** Frees the tensors of an element the pipeline drops (filtered out, skipped, left in a buffer). */
export function disposeElement(element: unknown): void {
  if (isLeaf(element) && !(element instanceof Tensor)) return; // the common case: host data
  for (const t of tensorsOf(element)) t.dispose();
}

/** After map(): frees the input's tensors that the output does not carry on (what tfjs's tidy does). */
export function disposeUnreturned(input: unknown, output: unknown): void {
  if (isLeaf(input) && !(input instanceof Tensor)) return;
  const inputs = tensorsOf(input);
  if (inputs.size === 0) return;
  const kept = tensorsOf(output);
  for (const t of inputs) if (!kept.has(t)) t.dispose();
}

/**
 * One leaf as a host tensor; a Tensor leaf is read and disposed (the dataset owns its elements).
 * Errors read `${op}: ${what}${where} ...` ('Dataset.batch: element.xs has shape ...').
 */
function leafToHost(op: string, leaf: unknown, what: string, where: string): HostTensor {
  const name = `${what}${where}`;
  if (leaf instanceof Float32Array || leaf instanceof Int32Array) return { data: leaf, shape: [leaf.length] };
  if (typeof leaf === 'number') return { data: Float32Array.of(leaf), shape: [] };
  if (leaf instanceof Tensor) {
    if (leaf.isDisposed) throw new TypeError(`${op}: ${name} is a disposed tensor`);
    const host = { data: leaf.dataSync(), shape: [...leaf.shape] };
    leaf.dispose();
    return host;
  }
  if (isHostTensor(leaf)) {
    const { shape } = leaf;
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new TypeError(`${op}: ${name} has shape [${shape}]; dimensions must be non-negative integers`);
    const data = leaf.data instanceof Float32Array || leaf.data instanceof Int32Array ? leaf.data : numbersToFloat32(op, leaf.data as unknown as ArrayLike<unknown>, name);
    if (shapeSize(shape) !== data.length) throw new TypeError(`${op}: ${name} has shape [${shape}], which needs ${shapeSize(shape)} values, but ${data.length} came`);
    return { data, shape: [...shape] };
  }
  if (Array.isArray(leaf)) {
    let t: Tensor;
    try {
      t = tensor(leaf as NestedArray, undefined, 'float32', { device: 'cpu' });
    } catch (err) {
      throw new TypeError(`${op}: ${(err as Error).message.replace(/^tensor: argument 'values'/, name)}`);
    }
    return leafToHost(op, t, what, where);
  }
  throw new TypeError(`${op}: ${name} must be a number, nested arrays of numbers, a Float32Array or Int32Array, {data, shape}, a Tensor or a plain object of those, got ${describe(leaf)}`);
}

function numbersToFloat32(op: string, values: ArrayLike<unknown>, name: string): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number') throw new TypeError(`${op}: ${name}.data[${i}] must be a number, got ${describe(v)}`);
    out[i] = v;
  }
  return out;
}

/** The element with every leaf converted to a host tensor (tensors read and disposed); `what` names it in errors. */
export function elementToHost(op: string, element: unknown, what = 'element'): unknown {
  const convert = (value: unknown, path: string, depth: number): unknown => {
    if (isLeaf(value)) return leafToHost(op, value, what, path);
    if (depth === MAX_DEPTH) throw new RangeError(`${op}: ${what}${path} is nested more than ${MAX_DEPTH} objects deep`);
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, convert(v, `${path}.${k}`, depth + 1)]));
  };
  return convert(element, '', 0);
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Stacks host elements (from elementToHost, same structure and leaf shapes) into one element whose
 * leaves have a new first dimension of `elements.length`. A leaf is int32 when the first element's is.
 */
export function stackHost(op: string, elements: readonly unknown[]): unknown {
  const first = elements[0];
  const stackAt = (path: string, pick: (element: unknown) => unknown): HostTensor => {
    const head = pick(first) as HostTensor;
    const per = head.data.length;
    const out = head.data instanceof Int32Array ? new Int32Array(per * elements.length) : new Float32Array(per * elements.length);
    elements.forEach((element, i) => {
      const leaf = pick(element) as HostTensor | undefined;
      if (!isHostTensor(leaf)) throw new TypeError(`${op}: element ${i} has no leaf at '${path || '.'}' like the first element (got ${describe(leaf)})`);
      if (!sameShape(leaf.shape, head.shape)) throw new TypeError(`${op}: element ${i} has shape [${leaf.shape}] at '${path || '.'}', the first element has [${head.shape}]`);
      if (out instanceof Int32Array && !(leaf.data instanceof Int32Array)) throw new TypeError(`${op}: element ${i} is float32 at '${path || '.'}', the first element is int32`);
      out.set(leaf.data, i * per);
    });
    return { data: out, shape: [elements.length, ...head.shape] };
  };
  const stack = (path: string, pick: (element: unknown) => unknown): unknown => {
    const head = pick(first);
    if (isHostTensor(head)) return stackAt(path, pick);
    const keys = Object.keys(head as object);
    elements.forEach((element, i) => {
      const value = pick(element);
      const got = isPlainObject(value) && !isHostTensor(value) ? Object.keys(value) : null;
      if (!got || got.length !== keys.length || !keys.every((k) => got.includes(k))) {
        throw new TypeError(`${op}: element ${i} has ${got ? `keys [${got}]` : describe(value)} at '${path || '.'}', the first element has keys [${keys}]`);
      }
    });
    return Object.fromEntries(keys.map((k) => [k, stack(`${path}.${k}`, (element) => (pick(element) as Record<string, unknown>)[k])]));
  };
  return stack('', (element) => element);
}

/** Rows `from`..`to`−1 along the first dimension of a host tensor, as a view (no copy). */
export function hostRows(t: HostTensor, from: number, to: number): HostTensor {
  const per = t.shape.length === 0 ? 1 : t.data.length / t.shape[0]!;
  return { data: t.data.subarray(from * per, to * per), shape: [to - from, ...t.shape.slice(1)] };
}

/** Row `index` of a host tensor (its first dimension dropped), as a view. */
export function hostRow(t: HostTensor, index: number): HostTensor {
  const rows = hostRows(t, index, index + 1);
  return { data: rows.data, shape: rows.shape.slice(1) };
}
