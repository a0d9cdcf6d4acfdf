// Training data on the host: conversion and checks of what fit, evaluate and datasets are given
// (tensors, nested arrays, {data, shape}), per-sample loss weights, and batch slicing.
import { describe } from '../backend';
import { tidy } from '../engine';
import { Tensor, shapeSize, tensor, type NestedArray } from '../tensor';
import { fail } from './engine';

/** Training data: a tensor, nested arrays, or a flat typed array with its shape. */
export type Data = Tensor | NestedArray | { data: Float32Array | Int32Array | number[]; shape: number[] };
/** One loss weight per sample: data of shape [samples], or a plain Float32Array. */
export type SampleWeights = Data | Float32Array;

export interface HostData {
  data: Float32Array | Int32Array;
  shape: number[];
  perSample: number;
}

/** `what` names the function and argument in errors ('fit: x'). */
export function hostData(value: Data, what: string, dtype: 'float32' | 'int32'): HostData {
  let data: Float32Array | Int32Array;
  let shape: number[];
  if (value instanceof Tensor) {
    if (value.isDisposed) fail(`${what} is a disposed tensor`);
    data = value.dataSync();
    shape = [...value.shape];
  } else if (Array.isArray(value)) {
    const t = tidy(() => tensor(value as NestedArray, undefined, 'float32', { device: 'cpu' }));
    data = t.dataSync();
    shape = [...t.shape];
    t.dispose();
  } else if (typeof value === 'object' && value !== null && 'data' in value && Array.isArray(value.shape)) {
    data = value.data instanceof Float32Array || value.data instanceof Int32Array ? value.data : Float32Array.from(value.data);
    shape = [...value.shape];
    if (shapeSize(shape) !== data.length) fail(`${what}: shape [${shape}] needs ${shapeSize(shape)} values, got ${data.length}`);
  } else {
    fail(`${what} must be a Tensor, nested arrays of numbers or {data, shape}, got ${describe(value)}`);
  }
  if (shape.length < 1 || shape[0] === 0) fail(`${what} must have at least one sample, got shape [${shape}]`);
  const perSample = data.length / shape[0]!;
  const where = (i: number) => {
    const idx: number[] = [];
    let r = i;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx.unshift(r % shape[d]!);
      r = Math.floor(r / shape[d]!);
    }
    return `sample ${idx[0]}${idx.length > 1 ? `, feature index [${idx.slice(1).join(', ')}]` : ''}`;
  };
  if (data instanceof Float32Array) {
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) fail(`${what} contains ${data[i]} at ${where(i)}; clean or impute the data before training`);
  }
  if (dtype === 'int32' && !(data instanceof Int32Array)) {
    const ints = new Int32Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (!Number.isInteger(v)) fail(`${what} must hold integer indices here, got ${v} at ${where(i)}`);
      ints[i] = v;
    }
    data = ints;
  } else if (dtype === 'float32' && data instanceof Int32Array) {
    data = Float32Array.from(data);
  }
  return { data, shape, perSample };
}

/** Checked per-sample weights for `samples` samples (non-negative, shape [samples]). */
export function sampleWeightsOf(fn: string, sampleWeight: unknown, samples: number): Float32Array {
  const value = sampleWeight instanceof Float32Array ? { data: sampleWeight, shape: [sampleWeight.length] } : (sampleWeight as Data);
  const w = hostData(value, `${fn}: sampleWeight`, 'float32');
  if (w.shape.length !== 1 || w.shape[0] !== samples) fail(`${fn}: sampleWeight must have shape [${samples}] (one weight per sample), got [${w.shape}]`);
  const negative = w.data.findIndex((v) => v < 0);
  if (negative >= 0) fail(`${fn}: sampleWeight must be non-negative, got ${w.data[negative]} at sample ${negative}`);
  return w.data as Float32Array;
}

/**
 * Per-sample weights from Keras' class_weight: each sample's class is the target's index (sparse),
 * the argmax of a one-hot row, or the rounded binary target. `outputShape` is the model output's
 * (without batch); `sparse` when targets are class indices.
 */
export function classWeightsOf(fn: string, classWeight: unknown, y: HostData, outputShape: Array<number | null>, sparse: boolean): Float32Array {
  if (typeof classWeight !== 'object' || classWeight === null || Array.isArray(classWeight)) fail(`${fn}: classWeight must be an object {classIndex: weight}, got ${describe(classWeight)}`);
  if (outputShape.length !== 1) fail(`${fn}: classWeight needs one class per sample, and this model outputs [${outputShape.map((d) => d ?? 'any').join(', ')}] per sample; pass sampleWeight instead`);
  const units = outputShape[0] as number;
  const classes = sparse ? units : units === 1 ? 2 : units;
  const table = new Float32Array(classes).fill(1);
  for (const [key, value] of Object.entries(classWeight)) {
    const c = Number(key);
    if (!Number.isInteger(c) || c < 0 || c >= classes) fail(`${fn}: classWeight key '${key}' is not a class index of this model (0 … ${classes - 1})`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(`${fn}: classWeight[${key}] must be a non-negative number, got ${describe(value)}`);
    table[c] = value;
  }
  const n = y.shape[0]!;
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const row = y.data.subarray(i * y.perSample, (i + 1) * y.perSample);
    let c = 0;
    if (y.perSample === 1) c = Math.min(classes - 1, Math.max(0, Math.round(row[0]!)));
    else for (let k = 1; k < row.length; k++) if (row[k]! > row[c]!) c = k;
    w[i] = table[c]!;
  }
  return w;
}

/** Rows start…end of d (in `order` when shuffled): a view when unshuffled. */
export function batchSlice<T extends Float32Array | Int32Array>(data: T, perSample: number, order: Int32Array | null, start: number, end: number): T {
  if (!order) return data.subarray(start * perSample, end * perSample) as T;
  const slice = new (data.constructor as new (n: number) => T)((end - start) * perSample);
  for (let i = start; i < end; i++) slice.set(data.subarray(order[i]! * perSample, (order[i]! + 1) * perSample), (i - start) * perSample);
  return slice;
}

/** Samples from…to of host data (a copy). */
export function cutSamples(d: HostData, from: number, to: number): HostData {
  return { data: d.data.slice(from * d.perSample, to * d.perSample), shape: [to - from, ...d.shape.slice(1)], perSample: d.perSample };
}
