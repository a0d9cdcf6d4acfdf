// data.fromArrays: a dataset of the samples of in-memory arrays (tf.data's from_tensor_slices).
import { describe } from '../backend';
import { Tensor, type NestedArray } from '../tensor';
import { Dataset } from './dataset';
import { isPlainObject } from '../options';
import { elementToHost, hostRow, isHostTensor, type HostTensor } from './elements';

/** Samples along the first dimension: a Tensor, nested arrays, a typed array or {data, shape}. */
export type ArrayData = Tensor | NestedArray | Float32Array | Int32Array | HostTensor;
/** One array, or one per input (or output) name. */
export type ArraysOrNamed = ArrayData | Record<string, ArrayData>;

type Columns = HostTensor | Record<string, HostTensor>;
/** An element of fromArrays: one sample of the array, or of each named array. */
export type Sample = HostTensor | Record<string, HostTensor>;

const isArrayData = (v: unknown): boolean => v instanceof Tensor || Array.isArray(v) || v instanceof Float32Array || v instanceof Int32Array || isHostTensor(v);

/** The arrays as host tensors: a Tensor is copied (it stays the caller's), the rest converted. */
function columns(argument: string, value: unknown): Columns {
  const one = (v: unknown, what: string): HostTensor => {
    if (!isArrayData(v)) throw new TypeError(`fromArrays: argument '${what}' must be a Tensor, nested arrays, a typed array or {data, shape}, got ${describe(v)}`);
    if (v instanceof Tensor && v.isDisposed) throw new TypeError(`fromArrays: argument '${what}' is a disposed tensor`);
    const host = (v instanceof Tensor ? { data: v.dataSync(), shape: [...v.shape] } : elementToHost('fromArrays', v, `argument '${what}'`)) as HostTensor;
    if (host.shape.length === 0) throw new TypeError(`fromArrays: argument '${what}' must have a first (sample) dimension, got a scalar`);
    return host;
  };
  if (isArrayData(value)) return one(value, argument);
  if (!isPlainObject(value) || Object.keys(value).length === 0) {
    throw new TypeError(`fromArrays: argument '${argument}' must be a Tensor, nested arrays, a typed array, {data, shape} or an object of those keyed by input name, got ${describe(value)}`);
  }
  return Object.fromEntries(Object.entries(value).map(([name, v]) => [name, one(v, `${argument}.${name}`)]));
}

function sampleCounts(argument: string, c: Columns): [string, number][] {
  return isHostTensor(c) ? [[argument, c.shape[0]!]] : Object.entries(c).map(([name, t]) => [`${argument}.${name}`, t.shape[0]!]);
}

const sampleOf = (c: Columns, i: number): Sample =>
  isHostTensor(c) ? hostRow(c, i) : Object.fromEntries(Object.entries(c).map(([name, t]) => [name, hostRow(t, i)]));

/**
 * A dataset of samples: element i is sample i of `xs` (a host tensor without the first dimension,
 * or an object of them), or `{xs, ys}` when `ys` is given. Tensors are read once, here, and stay
 * the caller's; the elements are views into that copy.
 */
export function fromArrays(xs: ArraysOrNamed): Dataset<Sample>;
export function fromArrays(xs: ArraysOrNamed, ys: ArraysOrNamed): Dataset<{ xs: Sample; ys: Sample }>;
export function fromArrays(xs: ArraysOrNamed, ys?: ArraysOrNamed): Dataset<Sample | { xs: Sample; ys: Sample }> {
  const x = columns('xs', xs);
  const y = ys === undefined ? null : columns('ys', ys);
  const counts = [...sampleCounts('xs', x), ...(y ? sampleCounts('ys', y) : [])];
  const n = counts[0]![1];
  const other = counts.find(([, count]) => count !== n);
  if (other) throw new TypeError(`fromArrays: every array must have the same number of samples: ${counts[0]![0]} has ${n}, ${other[0]} has ${other[1]}`);
  return new Dataset(function* () {
    for (let i = 0; i < n; i++) yield y ? { xs: sampleOf(x, i), ys: sampleOf(y, i) } : sampleOf(x, i);
  });
}
