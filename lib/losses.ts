// Losses (Keras names and semantics): the mean over samples (and timesteps) of a per-row value.
// Each resolves to a fused native kernel that computes the value and the gradient together.
import { describe } from './backend';
import type { LossKind } from './ops/math';

export type LossName =
  | 'meanSquaredError' | 'meanAbsoluteError' | 'binaryCrossentropy' | 'categoricalCrossentropy' | 'sparseCategoricalCrossentropy';

export interface LossSpec {
  name: LossName;
  fromLogits: boolean;
}

const ALIASES: Record<string, LossName> = {
  meanSquaredError: 'meanSquaredError', mse: 'meanSquaredError', mean_squared_error: 'meanSquaredError',
  meanAbsoluteError: 'meanAbsoluteError', mae: 'meanAbsoluteError', mean_absolute_error: 'meanAbsoluteError',
  binaryCrossentropy: 'binaryCrossentropy', binary_crossentropy: 'binaryCrossentropy',
  categoricalCrossentropy: 'categoricalCrossentropy', categorical_crossentropy: 'categoricalCrossentropy',
  sparseCategoricalCrossentropy: 'sparseCategoricalCrossentropy', sparse_categorical_crossentropy: 'sparseCategoricalCrossentropy',
};

/** A loss by name or spec ({name, fromLogits}). */
export function resolveLoss(loss: unknown): LossSpec {
  if (typeof loss === 'string' && loss in ALIASES) return { name: ALIASES[loss]!, fromLogits: false };
  if (typeof loss === 'object' && loss !== null && typeof (loss as LossSpec).name === 'string' && (loss as LossSpec).name in ALIASES) {
    const spec = loss as LossSpec;
    return { name: ALIASES[spec.name]!, fromLogits: Boolean(spec.fromLogits) };
  }
  throw new TypeError(`compile: unknown loss ${describe(loss)}; use one of ${Object.keys(ALIASES).filter((k) => !k.includes('_')).join(', ')} (or e.g. losses.categoricalCrossentropy({fromLogits: true}))`);
}

/** The native kernel for a loss, given whether the model hands it logits. */
export function lossKernel(spec: LossSpec, logits: boolean): LossKind {
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
}

export const meanSquaredError = (): LossSpec => ({ name: 'meanSquaredError', fromLogits: false });
export const meanAbsoluteError = (): LossSpec => ({ name: 'meanAbsoluteError', fromLogits: false });
export const binaryCrossentropy = (o: { fromLogits?: boolean } = {}): LossSpec => ({ name: 'binaryCrossentropy', fromLogits: o.fromLogits ?? false });
export const categoricalCrossentropy = (o: { fromLogits?: boolean } = {}): LossSpec => ({ name: 'categoricalCrossentropy', fromLogits: o.fromLogits ?? false });
export const sparseCategoricalCrossentropy = (o: { fromLogits?: boolean } = {}): LossSpec => ({ name: 'sparseCategoricalCrossentropy', fromLogits: o.fromLogits ?? false });
