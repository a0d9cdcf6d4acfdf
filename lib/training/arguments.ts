// What Sequential and the functional Model share beyond the loop: the checks of fitDataset's and
// evaluateDataset's arguments and elements, the dataset evaluation pass, and setWeights.
import { describe } from '../backend';
import type { Callback, CallbackHooks, Logs } from '../callbacks';
import { dispose } from '../engine';
import type { Param } from '../layers';
import { native } from '../native';
import { checkOptions } from '../options';
import { checkSource, fail, loopOptions, positiveInteger, sourceElements, weightedMeans, type BatchSource } from './engine';

/** What fitDataset takes (docs/models.md, Datasets); V is the model's validation data. */
export interface FitDatasetArgs<V = unknown> {
  epochs?: number;
  /** Batches per epoch; without it each epoch runs the dataset to its end (iterated afresh). */
  batchesPerEpoch?: number;
  /** A dataset (evaluated whole after each epoch), [x, y] or [x, y, sampleWeight]. */
  validationData?: BatchSource | V;
  callbacks?: Array<Callback | CallbackHooks>;
  verbose?: 0 | 1 | 2;
  initialEpoch?: number;
  signal?: AbortSignal;
}

const FIT_DATASET_KEYS = ['epochs', 'batchesPerEpoch', 'validationData', 'callbacks', 'verbose', 'initialEpoch', 'signal'];
const FIT_DATASET_REFUSED: Record<string, string> = {
  stepsPerEpoch: "it is called 'batchesPerEpoch' here (tfjs' name)",
  batchSize: 'the dataset makes the batches',
  shuffle: 'the dataset decides the order (shuffle it)',
  validationSplit: 'a dataset cannot be split without holding it; give validationData',
  sampleWeight: 'a dataset batch carries its own sampleWeight ({xs, ys, sampleWeight})',
  classWeight: "fold class weights into each batch's sampleWeight",
};

/** fitDataset's checked arguments; validationData as [x, y, sampleWeight?] arrays, a source, or null. */
export function fitDatasetOptions(dataset: unknown, args: FitDatasetArgs) {
  checkSource('fitDataset', dataset);
  checkOptions('fitDataset', args, FIT_DATASET_KEYS, { refused: FIT_DATASET_REFUSED });
  const loop = loopOptions('fitDataset', args);
  const batchesPerEpoch = args.batchesPerEpoch === undefined ? null : positiveInteger('fitDataset', 'batchesPerEpoch', args.batchesPerEpoch, 1);
  const v = args.validationData;
  let validation: { arrays: [unknown, unknown, unknown] } | { source: BatchSource } | null = null;
  if (Array.isArray(v)) {
    if (v.length < 2 || v.length > 3) fail(`fitDataset: 'validationData' must be a dataset, [x, y] or [x, y, sampleWeight], got ${describe(v)}`);
    validation = { arrays: [v[0], v[1], v[2]] };
  } else if (v !== undefined) {
    checkSource('fitDataset', v);
    validation = { source: v as BatchSource };
  }
  return { loop, batchesPerEpoch, validation };
}

/** evaluateDataset's checked arguments: how many batches (null: all). */
export function evaluateDatasetOptions(dataset: unknown, args: { batches?: number }): number | null {
  checkSource('evaluateDataset', dataset);
  checkOptions('evaluateDataset', args, ['batches'], { refused: { steps: "it is called 'batches' here" } });
  return args.batches === undefined ? null : positiveInteger('evaluateDataset', 'batches', args.batches, 1);
}

/** A dataset element's parts, checked to be {xs, ys, sampleWeight?}. */
export function datasetElement(fn: string, element: unknown, index: number): { xs: unknown; ys: unknown; sampleWeight?: unknown } {
  if (typeof element !== 'object' || element === null || !('xs' in element) || !('ys' in element)) fail(`${fn}: dataset element ${index} must be {xs, ys, sampleWeight?}, got ${describe(element)}`);
  checkOptions(`${fn}: dataset element ${index}`, element, ['xs', 'ys', 'sampleWeight']);
  return element as { xs: unknown; ys: unknown; sampleWeight?: unknown };
}

/**
 * Batch-size-weighted means over a dataset's elements (all, or the first `limit`); `evaluate`
 * gives one element's size and log values. Each element's tensors are freed after it.
 */
export async function evaluateElements(fn: string, dataset: BatchSource, limit: number | null, names: string[], evaluate: (element: unknown, index: number) => { size: number; values: ArrayLike<number> }, toLogs?: (means: ArrayLike<number>) => number[]): Promise<Logs> {
  const rows: { size: number; values: ArrayLike<number> }[] = [];
  for await (const element of sourceElements(fn, dataset, limit)) {
    try {
      rows.push(evaluate(element, rows.length));
    } finally {
      dispose(element);
    }
  }
  if (!rows.length) fail(`${fn}: the dataset gave no batch`);
  return weightedMeans(names, rows, toLogs);
}

/** Writes host weights into the parameters, in order, checking count, type and sizes. */
export function writeWeights(params: Param[], weights: unknown): void {
  if (!Array.isArray(weights) || weights.length !== params.length) fail(`setWeights: expected ${params.length} arrays (one per parameter), got ${describe(weights)}`);
  params.forEach((p, i) => {
    const w = weights[i];
    if (!(w instanceof Float32Array) && !(Array.isArray(w) && w.every((v) => typeof v === 'number'))) fail(`setWeights: weight ${i} (${p.name}) must be a Float32Array or an array of numbers, got ${describe(w)}`);
    if (w.length !== p.value.size) fail(`setWeights: ${p.name} needs ${p.value.size} values, got ${w.length}`);
    native.write(p.value.handle('setWeights'), w instanceof Float32Array ? w : Float32Array.from(w as number[]));
  });
}
