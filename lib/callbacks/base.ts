// The callback base class and hook types, apart from ./index so that callbacks defined in other
// modules (model-checkpoint, which reaches lib/models through lib/io) can extend Callback without
// an import cycle through ./index.
import type { Sequential } from '../models/sequential';

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
  model!: Sequential;
  params!: TrainParams;
  setModel(model: Sequential): void {
    this.model = model;
  }
  setParams(params: TrainParams): void {
    this.params = params;
  }
}

/** Wraps plain hook objects ({onEpochEnd(epoch, logs) {...}}) as callbacks. */
export class CustomCallback extends Callback {
  constructor(readonly hooks: CallbackHooks) {
    super();
    for (const k of ['onTrainBegin', 'onTrainEnd', 'onEpochBegin', 'onEpochEnd', 'onBatchBegin', 'onBatchEnd'] as const) {
      const h = hooks[k];
      if (h) (this as CallbackHooks)[k] = h.bind(hooks) as never;
    }
  }
}
