// The callback base class and hook types, apart from ./index so that callbacks defined in other
// modules (model-checkpoint, which reaches lib/models through lib/io) can extend Callback without
// an import cycle through ./index.
import type { Model } from '../models/model';
import type { Sequential } from '../models/sequential';

/** The model a callback is attached to (fit and fitDataset of either kind). */
export type TrainingModel = Sequential | Model;
import { describe } from '../backend';
import { closestKey } from '../options';

export type Logs = Record<string, number>;

export interface CallbackHooks {
  onTrainBegin?(logs?: Logs): void | Promise<void>;
  onTrainEnd?(logs?: Logs): void | Promise<void>;
  onEpochBegin?(epoch: number, logs?: Logs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs?: Logs): void | Promise<void>;
  onBatchBegin?(batch: number, logs?: Logs): void | Promise<void>;
  onBatchEnd?(batch: number, logs?: Logs): void | Promise<void>;
}

export interface TrainParams {
  epochs: number;
  steps: number;
  samples: number;
  batchSize: number;
  verbose: number;
  metrics: string[];
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface Callback extends CallbackHooks {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class Callback {
  model!: TrainingModel;
  params!: TrainParams;
  setModel(model: TrainingModel): void {
    this.model = model;
  }
  setParams(params: TrainParams): void {
    this.params = params;
  }
}

const HOOKS = ['onTrainBegin', 'onTrainEnd', 'onEpochBegin', 'onEpochEnd', 'onBatchBegin', 'onBatchEnd'] as const;

/**
 * One entry of fit's callbacks as a Callback: a Callback itself, or a plain object whose hooks are
 * functions, wrapped. A key that looks like a hook but is none (`onEpochEnds`) is an error: it
 * would never be called.
 */
export function callbackOf(fn: string, c: unknown, index: number): Callback {
  const where = `${fn}: callbacks[${index}]`;
  if (typeof c !== 'object' || c === null) throw new TypeError(`${where} must be a callback or an object of hooks (${HOOKS.join(', ')}), got ${describe(c)}`);
  if (typeof (c as Callback).setModel === 'function') return c as Callback;
  for (const [key, value] of Object.entries(c)) {
    if ((HOOKS as readonly string[]).includes(key)) {
      if (typeof value !== 'function') throw new TypeError(`${where}.${key} must be a function, got ${describe(value)}`);
    } else if (/^on[A-Z]/.test(key)) {
      const near = closestKey(key, HOOKS);
      throw new TypeError(`${where}: '${key}' is not a callback hook${near ? ` (did you mean '${near}'?)` : ''}; hooks: ${HOOKS.join(', ')}`);
    }
  }
  return new CustomCallback(c as CallbackHooks);
}

/**
 * Wraps plain hook objects ({onEpochEnd(epoch, logs) {...}}) as callbacks. The hooks run with
 * `this` the object itself, which also gets `model` and `params` (non-enumerable), as Keras and
 * tfjs callbacks have: `this.model.stopTraining = true` works.
 */
export class CustomCallback extends Callback {
  constructor(readonly hooks: CallbackHooks) {
    super();
    for (const k of HOOKS) {
      const h = hooks[k];
      if (h) (this as CallbackHooks)[k] = h.bind(hooks) as never;
    }
  }
  override setModel(model: TrainingModel): void {
    super.setModel(model);
    Reflect.defineProperty(this.hooks, 'model', { value: model, writable: true, configurable: true, enumerable: false });
  }
  override setParams(params: TrainParams): void {
    super.setParams(params);
    Reflect.defineProperty(this.hooks, 'params', { value: params, writable: true, configurable: true, enumerable: false });
  }
}
