// The training loop shared by Sequential and the functional Model: epochs over a batch source,
// callbacks and the progress bar, abort, stopTraining, the running mean of the logs and the
// History. The model supplies the step (one batch in, its [loss, ...metrics] tensor out) and the
// validation pass; batching (host arrays or a dataset) is the caller's StepBatch iterator.
import { describe } from '../backend';
import { ProgressBar, type Callback, type CallbackHooks, type Logs, type TrainParams } from '../callbacks';
import { callbackOf } from '../callbacks/base';
import { dispose } from '../engine';
import type { Tensor } from '../tensor';

export class History {
  epoch: number[] = [];
  history: Record<string, number[]> = {};
  params: TrainParams | null = null;
  /** True when training ended early (callback, abort or NaN). */
  stopped = false;
}

/** One prepared batch: its sample count and the step that trains on it. */
export interface StepBatch {
  size: number;
  /** Runs the training step; returns [loss, ...metrics] as a device tensor the loop reads and frees. */
  step(): Tensor;
}

/** What the loop needs of a model. */
export interface TrainableModel {
  stopTraining: boolean;
  /** Throws when the model was disposed (checked before every step: a callback may dispose it). */
  assertUsable(fn: string): void;
}

export interface LoopArgs {
  model: TrainableModel;
  /** The model as callbacks see it (this.model). */
  callbackModel: unknown;
  epochs: number;
  initialEpoch: number;
  verbose: 0 | 1 | 2;
  callbacks: Callback[];
  signal?: AbortSignal;
  params: TrainParams;
  /** The batches of one epoch, in order (sync or async). */
  epochBatches(epoch: number): Iterator<StepBatch> | AsyncIterator<StepBatch>;
  /**
   * The logs (in params.metrics order) from the means of the steps' values so far (stateful
   * metrics such as precision combine them); the means themselves when absent.
   */
  toLogs?: (means: ArrayLike<number>) => number[];
  /** The validation logs after an epoch (without the val_ prefix), or null for none. */
  validate: (() => Logs | Promise<Logs>) | null;
}

/** The checks fit and fitDataset share: verbose, signal, callbacks, epochs and initialEpoch. */
export function loopOptions(fn: string, args: { epochs?: unknown; initialEpoch?: unknown; verbose?: unknown; signal?: unknown; callbacks?: unknown }): { epochs: number; initialEpoch: number; verbose: 0 | 1 | 2; signal?: AbortSignal; callbacks: Callback[] } {
  const epochs = positiveInteger(fn, 'epochs', args.epochs, 1);
  const initialEpoch = args.initialEpoch ?? 0;
  if (typeof initialEpoch !== 'number' || !Number.isInteger(initialEpoch) || initialEpoch < 0) fail(`${fn}: 'initialEpoch' must be a non-negative integer, got ${describe(args.initialEpoch)}`);
  const verbose = args.verbose ?? 1;
  if (verbose !== 0 && verbose !== 1 && verbose !== 2) fail(`${fn}: 'verbose' must be 0, 1 or 2, got ${describe(args.verbose)}`);
  if (args.signal !== undefined && !(args.signal instanceof AbortSignal)) fail(`${fn}: 'signal' must be an AbortSignal, got ${describe(args.signal)}`);
  if (args.callbacks !== undefined && !Array.isArray(args.callbacks)) fail(`${fn}: 'callbacks' must be an array, got ${describe(args.callbacks)}`);
  const callbacks = (args.callbacks ?? []).map((c: unknown, i: number) => callbackOf(fn, c, i));
  return { epochs, initialEpoch, verbose, signal: args.signal as AbortSignal | undefined, callbacks };
}

export function fail(message: string): never {
  throw new TypeError(message);
}

export function positiveInteger(fn: string, name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(`${fn}: '${name}' must be a positive integer, got ${describe(v)}`);
  return v;
}

/** Runs the epochs; resolves with the History (stopped: true when a callback, abort or NaN ended it early). */
export async function trainLoop(args: LoopArgs): Promise<History> {
  const { model, params } = args;
  const history = new History();
  history.params = params;
  const callbacks: Callback[] = [];
  if (args.verbose === 1) callbacks.push(new ProgressBar());
  if (args.verbose === 2) callbacks.push(new ProgressBar(process.stdout, false));
  callbacks.push(...args.callbacks);
  for (const c of callbacks) {
    c.setModel(args.callbackModel as never);
    c.setParams(params);
  }
  const call = async (hook: keyof CallbackHooks, ...a: unknown[]) => {
    for (const c of callbacks) {
      const f = c[hook] as ((...args: unknown[]) => unknown) | undefined;
      if (f) await f.apply(c, a);
    }
  };
  model.stopTraining = false;
  const aborted = () => args.signal?.aborted === true;
  await call('onTrainBegin', {});
  for (let epoch = args.initialEpoch; epoch < args.epochs && !model.stopTraining && !aborted(); epoch++) {
    await call('onEpochBegin', epoch, {});
    const means = new WeightedMeans();
    let logs: Logs = {};
    const batches = args.epochBatches(epoch);
    let b = 0;
    try {
      while (!aborted() && !model.stopTraining) {
        const next = await batches.next();
        if (next.done) break;
        const batch = next.value;
        await call('onBatchBegin', b, { batch: b, size: batch.size });
        model.assertUsable('fit'); // disposed by a callback or concurrent code while training
        // The loss and metrics are read off the JS thread: on a GPU the event loop stays free while
        // the step runs (the read is ordered after the step's work).
        const values = batch.step();
        try {
          means.add((await values.data()) as Float32Array, batch.size);
        } finally {
          values.dispose();
        }
        logs = means.logs(params.metrics, args.toLogs);
        await call('onBatchEnd', b, { ...logs, batch: b, size: batch.size });
        b++;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      // Lets a dataset release what it holds (prefetched batches) when the epoch ends early.
      await batches.return?.();
    }
    if (params.steps === 0) params.steps = b; // a dataset of unknown length: counted in the first epoch
    if (aborted()) {
      history.stopped = true;
      break;
    }
    if (args.validate) {
      const v = await args.validate();
      for (const [k, value] of Object.entries(v)) logs[`val_${k}`] = value;
    }
    await call('onEpochEnd', epoch, logs);
    history.epoch.push(epoch);
    for (const [k, value] of Object.entries(logs)) (history.history[k] ??= []).push(value);
  }
  if (model.stopTraining) history.stopped = true;
  await call('onTrainEnd', {});
  return history;
}

// ------------------------------------------------------------------ batch sources (datasets)

/** A dataset's element: inputs, targets and optional per-sample loss weights. */
export interface DatasetBatch<X = unknown, Y = unknown> {
  xs: X;
  ys: Y;
  sampleWeight?: unknown;
}

/**
 * What fitDataset and evaluateDataset accept: an iterable or async iterable of batches (iterated
 * afresh each epoch), an object with an iterator() method (tfjs' Dataset, possibly async), or a
 * function returning a fresh iterator or iterable per epoch.
 */
export type BatchSource<B = DatasetBatch> =
  | Iterable<B>
  | AsyncIterable<B>
  | { iterator(): Iterator<B> | AsyncIterator<B> | Promise<Iterator<B> | AsyncIterator<B>> }
  | (() => Iterator<B> | AsyncIterator<B> | Iterable<B> | AsyncIterable<B> | Promise<Iterator<B> | AsyncIterator<B>>);

type AnyIterator<B> = Iterator<B> | AsyncIterator<B>;

function isIterator(v: unknown): v is AnyIterator<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { next?: unknown }).next === 'function';
}

/** Throws unless `source` is one of BatchSource's forms (checked before training starts). */
export function checkSource(fn: string, source: unknown): void {
  const ok =
    typeof source === 'function' ||
    (typeof source === 'object' && source !== null && (Symbol.iterator in source || Symbol.asyncIterator in source || typeof (source as { iterator?: unknown }).iterator === 'function'));
  if (!ok || typeof source === 'string') {
    fail(`${fn}: argument 'dataset' must be an iterable or async iterable of {xs, ys, sampleWeight?} batches, an object with iterator(), or a function returning a fresh iterator per epoch, got ${describe(source)}`);
  }
}

/** A fresh iterator over the source's batches. */
export async function openSource<B>(fn: string, source: BatchSource<B>): Promise<AnyIterator<B>> {
  let it: unknown;
  if (typeof source === 'function') it = await source();
  else if (Symbol.asyncIterator in source) it = (source as AsyncIterable<B>)[Symbol.asyncIterator]();
  else if (Symbol.iterator in source) it = (source as Iterable<B>)[Symbol.iterator]();
  else it = await (source as { iterator(): unknown }).iterator();
  if (!isIterator(it) && typeof it === 'object' && it !== null) {
    if (Symbol.asyncIterator in it) it = (it as AsyncIterable<B>)[Symbol.asyncIterator]();
    else if (Symbol.iterator in it) it = (it as Iterable<B>)[Symbol.iterator]();
  }
  if (!isIterator(it)) fail(`${fn}: the dataset gave no iterator (expected an object with next()), got ${describe(it)}`);
  return it as AnyIterator<B>;
}

/**
 * The batches of each epoch from a source, as an epochBatches function for trainLoop. Without
 * batchesPerEpoch every epoch iterates the source afresh to its end; with it, epochs take that many
 * batches from one iterator, and a source that runs out is re-opened (an empty one is an error).
 * `prepare` turns a raw element into a StepBatch; the element's tensors are disposed after its
 * step (as tfjs does), so a dataset may hand out fresh tensors without tracking them.
 */
export function sourceEpochs<B>(fn: string, source: BatchSource<B>, batchesPerEpoch: number | null, prepare: (element: B, index: number) => StepBatch): (epoch: number) => AsyncIterator<StepBatch> {
  let shared: AnyIterator<B> | null = null;
  return () => {
    let taken = 0;
    let own: AnyIterator<B> | null = null;
    const nextElement = async (): Promise<IteratorResult<B>> => {
      if (batchesPerEpoch === null) {
        own ??= await openSource(fn, source);
        return await own.next();
      }
      if (taken >= batchesPerEpoch) return { done: true, value: undefined };
      shared ??= await openSource(fn, source);
      let r = await shared.next();
      if (r.done) {
        shared = await openSource(fn, source);
        r = await shared.next();
        if (r.done) fail(`${fn}: the dataset is empty (a fresh iterator gave no batch)`);
      }
      return r;
    };
    return {
      async next(): Promise<IteratorResult<StepBatch>> {
        const r = await nextElement();
        if (r.done) return { done: true, value: undefined };
        const element = r.value;
        let prepared: StepBatch;
        try {
          prepared = prepare(element, taken++);
        } catch (err) {
          dispose(element);
          throw err;
        }
        return {
          done: false,
          value: {
            size: prepared.size,
            step: () => {
              try {
                return prepared.step();
              } finally {
                dispose(element);
              }
            },
          },
        };
      },
      async return(): Promise<IteratorResult<StepBatch>> {
        // Only a per-epoch iterator is closed; the shared one continues in the next epoch.
        await own?.return?.();
        return { done: true, value: undefined };
      },
    };
  };
}

/** Every element of a source (or the first `limit`), one at a time, for evaluateDataset. */
export async function* sourceElements<B>(fn: string, source: BatchSource<B>, limit: number | null): AsyncGenerator<B> {
  const it = await openSource(fn, source);
  let n = 0;
  try {
    while (limit === null || n < limit) {
      const r = await it.next();
      if (r.done) break;
      n++;
      yield r.value;
    }
  } finally {
    await it.return?.();
  }
}

/** Batch-size-weighted running means of the steps' value rows (float64 sums). */
class WeightedMeans {
  private sums: Float64Array | null = null;
  private total = 0;

  add(values: ArrayLike<number>, size: number): void {
    this.sums ??= new Float64Array(values.length);
    for (let i = 0; i < this.sums.length; i++) this.sums[i] += values[i]! * size;
    this.total += size;
  }

  /** The named logs from the means so far (through toLogs when given); NaN before any row. */
  logs(names: string[], toLogs?: (means: ArrayLike<number>) => number[]): Logs {
    const means = this.sums ? Array.from(this.sums, (v) => (this.total ? v / this.total : NaN)) : names.map(() => NaN);
    const vals = toLogs ? toLogs(means) : means;
    const logs: Logs = {};
    names.forEach((name, i) => (logs[name] = vals[i]!));
    return logs;
  }
}

/** Batch-size-weighted means of per-batch value rows, as logs (through toLogs when given). */
export function weightedMeans(names: string[], rows: { size: number; values: ArrayLike<number> }[], toLogs?: (means: ArrayLike<number>) => number[]): Logs {
  const means = new WeightedMeans();
  for (const r of rows) means.add(r.values, r.size);
  return means.logs(names, toLogs);
}
