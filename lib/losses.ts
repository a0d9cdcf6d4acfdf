// Losses (Keras names and semantics): the mean over samples (and timesteps) of a per-row value.
// Most resolve to a fused native kernel that computes the value and the gradient together; Huber
// and MAPE are composed on the device from elementwise ops and those kernels (training/loss.ts).
// A custom loss is a function of tensors, differentiated by the op-level tape (lib/autograd.ts).
import { describe } from './backend';
import type { LossKind } from './ops/math';
import { checkOptions } from './options';
import type { Tensor } from './tensor';

export type LossName =
  | 'meanSquaredError' | 'meanAbsoluteError' | 'binaryCrossentropy' | 'categoricalCrossentropy' | 'sparseCategoricalCrossentropy'
  | 'huber' | 'meanAbsolutePercentageError' | 'custom';

/**
 * A custom loss or metric: yTrue (float32, the output's shape) and yPred in, a scalar or one
 * value per output row (the output's shape without its last dimension) out, made with the
 * differentiable ops (docs/models.md, "Custom losses and metrics").
 */
export type LossOrMetricFn = (yTrue: Tensor, yPred: Tensor) => Tensor;

export interface LossSpec {
  name: LossName;
  fromLogits: boolean;
  /** Huber's threshold between the quadratic and the linear part (default 1, as Keras). */
  delta?: number;
  /** The function of a custom loss (name 'custom') and its name for logs and saved configs. */
  custom?: { fn: LossOrMetricFn; name: string };
}

/** What compile() takes as a loss: a name, a spec (losses.huber({delta})) or a function of tensors. */
export type LossArg = string | LossSpec | LossOrMetricFn;

const ALIASES: Record<string, LossName> = {
  meanSquaredError: 'meanSquaredError', mse: 'meanSquaredError', mean_squared_error: 'meanSquaredError',
  meanAbsoluteError: 'meanAbsoluteError', mae: 'meanAbsoluteError', mean_absolute_error: 'meanAbsoluteError',
  binaryCrossentropy: 'binaryCrossentropy', binary_crossentropy: 'binaryCrossentropy',
  categoricalCrossentropy: 'categoricalCrossentropy', categorical_crossentropy: 'categoricalCrossentropy',
  sparseCategoricalCrossentropy: 'sparseCategoricalCrossentropy', sparse_categorical_crossentropy: 'sparseCategoricalCrossentropy',
  huber: 'huber',
  meanAbsolutePercentageError: 'meanAbsolutePercentageError', mape: 'meanAbsolutePercentageError', mean_absolute_percentage_error: 'meanAbsolutePercentageError',
};

/** A loss by name or spec ({name, fromLogits}). */
export function resolveLoss(loss: unknown): LossSpec {
  if (typeof loss === 'function') return { name: 'custom', fromLogits: false, custom: { fn: loss as LossOrMetricFn, name: loss.name || 'customLoss' } };
  if (typeof loss === 'object' && loss !== null && (loss as LossSpec).name === 'custom') {
    // A saved model's config (lossConfig): the function itself cannot be saved, as in Keras.
    const fn = (loss as { function?: unknown }).function;
    throw new TypeError(`compile: the model was compiled with the custom loss function ${typeof fn === 'string' ? `'${fn}'` : describe(fn)}, which is not saved; load it with {compile: false} and compile it again with the function`);
  }
  if (typeof loss === 'string' && loss in ALIASES) return { name: ALIASES[loss]!, fromLogits: false };
  if (typeof loss === 'object' && loss !== null && typeof (loss as LossSpec).name === 'string' && (loss as LossSpec).name in ALIASES) {
    const spec = loss as LossSpec;
    const name = ALIASES[spec.name]!;
    checkOptions('compile: loss', loss, ['name', 'fromLogits', ...(name === 'huber' ? ['delta'] : [])], { refused: LOSS_REFUSED });
    const logits = fromLogits('compile: loss', spec.fromLogits);
    if (logits && !name.endsWith('Crossentropy')) throw new TypeError(`compile: loss ${name} takes no fromLogits (only the cross-entropies do)`);
    return name === 'huber' ? { name, fromLogits: false, delta: huberDelta('compile: loss', spec.delta) } : { name, fromLogits: logits };
  }
  throw new TypeError(`compile: unknown loss ${describe(loss)}; use one of ${Object.keys(ALIASES).filter((k) => !k.includes('_')).join(', ')} (or e.g. losses.categoricalCrossentropy({fromLogits: true})), or a function (yTrue, yPred) => Tensor`);
}

/** The native kernel for a loss, given whether the model hands it logits. */
export function lossKernel(spec: LossSpec, logits: boolean): LossKind {
  if (typeof spec !== 'object' || spec === null) throw new TypeError(`lossKernel: argument 'spec' must be a loss spec {name, fromLogits}, got ${describe(spec)}`);
  switch (spec.name) {
    case 'meanSquaredError':
    case 'meanAbsoluteError':
      return spec.name;
    case 'binaryCrossentropy':
      return logits ? 'binaryCrossentropyLogits' : 'binaryCrossentropy';
    case 'categoricalCrossentropy':
      return logits ? 'categoricalCrossentropyLogits' : 'categoricalCrossentropy';
    case 'sparseCategoricalCrossentropy':
      return logits ? 'sparseCategoricalCrossentropyLogits' : 'sparseCategoricalCrossentropy';
  }
  throw new TypeError(`lossKernel: loss ${describe((spec as { name?: unknown }).name)} in argument 'spec' has no native kernel (unknown, or composed by lossInto)`);
}

function huberDelta(fn: string, v: unknown): number {
  if (v === undefined) return 1;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new TypeError(`${fn}: 'delta' must be a positive number, got ${describe(v)}`);
  return v;
}

const LOSS_REFUSED: Record<string, string> = {
  labelSmoothing: 'label smoothing is not implemented (smooth the targets before training)',
  reduction: "the loss is always Keras' default reduction, the mean over samples ('sum_over_batch_size')",
};

function fromLogits(fn: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new TypeError(`${fn}: 'fromLogits' must be true or false, got ${describe(v)}`);
  return v;
}

/** A loss factory: its options checked (`fromLogits` only for the cross-entropies). */
function lossFactory(name: LossName, logitsOption: boolean): (options?: { fromLogits?: boolean }) => LossSpec {
  const fn = `losses.${name}`;
  return (options) => {
    checkOptions(fn, options, logitsOption ? ['fromLogits'] : [], { refused: LOSS_REFUSED });
    return { name, fromLogits: fromLogits(fn, options?.fromLogits) };
  };
}

export const meanSquaredError: () => LossSpec = lossFactory('meanSquaredError', false);
export const meanAbsoluteError: () => LossSpec = lossFactory('meanAbsoluteError', false);
export const binaryCrossentropy = lossFactory('binaryCrossentropy', true);
export const categoricalCrossentropy = lossFactory('categoricalCrossentropy', true);
export const sparseCategoricalCrossentropy = lossFactory('sparseCategoricalCrossentropy', true);
export const meanAbsolutePercentageError: () => LossSpec = lossFactory('meanAbsolutePercentageError', false);
export const mape = meanAbsolutePercentageError;
/** Keras' Huber loss: ½e² for |e| ≤ delta, delta·|e| − ½delta² beyond (delta default 1). */
export function huber(options?: { delta?: number }): LossSpec {
  checkOptions('losses.huber', options, ['delta'], { refused: LOSS_REFUSED });
  return { name: 'huber', fromLogits: false, delta: huberDelta('losses.huber', options?.delta) };
}
