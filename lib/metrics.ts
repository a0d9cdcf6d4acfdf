// Metrics by name (Keras conventions): 'accuracy' becomes binary, categorical or sparse accuracy
// according to the loss; 'mae', 'mse' and 'mape' are the losses' values without gradients;
// 'rmse', 'precision', 'recall' and 'auc' are over the whole epoch or evaluation, as Keras'
// stateful metrics: each batch writes additive statistics, finish() combines their means.
// A custom metric is a function of tensors (losses.LossOrMetricFn), or {name, fn}.
import { describe } from './backend';
import type { LossOrMetricFn, LossSpec } from './losses';
import type { MetricKind } from './ops/math';
import { checkOptions } from './options';

/** What compile() takes as a metric: a name, a function of tensors, or {name, fn}. */
export type MetricArg = string | LossOrMetricFn | { name: string; fn: LossOrMetricFn };

export interface MetricSpec {
  /** The key in logs and History ('accuracy', 'mae', ...). */
  name: string;
  /**
   * 'confusion' writes 1 + 2·thresholds slots: the fraction of positive targets, then per
   * threshold the binary accuracy of pred against the targets and against all-ones (see
   * confusionCounts), from which the counts follow.
   */
  kernel: { kind: 'metric'; metric: MetricKind } | { kind: 'loss'; loss: LossSpec } | { kind: 'confusion'; thresholds: number[] } | { kind: 'custom'; fn: LossOrMetricFn };
  /** The log from the slots' means over the epoch or evaluation (rmse = √mean squared error). */
  finish?: (means: ArrayLike<number>) => number;
}

/** The slots a metric writes into a step's values. */
export function metricSlots(m: MetricSpec): number {
  return m.kernel.kind === 'confusion' ? 1 + 2 * m.kernel.thresholds.length : 1;
}

/**
 * True and false positives per threshold and the positives, as fractions of the elements, from a
 * confusion metric's slot means: accuracy = 2TP + 1 − PP − P (in fractions) gives TP.
 */
export function confusionCounts(means: ArrayLike<number>, count: number): { tp: number[]; fp: number[]; positives: number } {
  const positives = means[0]!;
  const tp: number[] = [];
  const fp: number[] = [];
  for (let j = 0; j < count; j++) {
    const pp = Math.max(0, means[1 + count + j]!);
    const t = Math.min(pp, positives, Math.max(0, (means[1 + j]! + pp + positives - 1) / 2)); // rounding kept in range
    tp.push(t);
    fp.push(pp - t);
  }
  return { tp, fp, positives };
}

const ratio = (a: number, b: number): number => (b > 0 ? a / b : 0); // Keras' divide_no_nan

/** Keras' AUC thresholds: 0 − ε, i/(n − 1) for i in 1..n−2, 1 + ε. */
function aucThresholds(n: number): number[] {
  return [-1e-7, ...Array.from({ length: n - 2 }, (_, i) => (i + 1) / (n - 1)), 1 + 1e-7];
}

/** Keras' ROC AUC: trapezoids between the thresholds' (false positive rate, recall) points. */
function rocAuc(means: ArrayLike<number>, count: number): number {
  const { tp, fp, positives } = confusionCounts(means, count);
  const recall = tp.map((t) => ratio(t, positives));
  const fpr = fp.map((f) => ratio(f, 1 - positives));
  let auc = 0;
  for (let j = 0; j + 1 < count; j++) auc += (fpr[j]! - fpr[j + 1]!) * ((recall[j]! + recall[j + 1]!) / 2);
  return auc;
}

export function resolveMetric(metric: unknown, loss: LossSpec): MetricSpec {
  if (typeof metric === 'function') return { name: metric.name || 'customMetric', kernel: { kind: 'custom', fn: metric as LossOrMetricFn } };
  if (typeof metric === 'object' && metric !== null && !Array.isArray(metric)) {
    checkOptions('compile: metric', metric, ['name', 'fn']);
    const { name, fn } = metric as { name?: unknown; fn?: unknown };
    if (typeof name !== 'string' || name === '') throw new TypeError(`compile: a custom metric's 'name' must be a non-empty string, got ${describe(name)}`);
    if (typeof fn !== 'function') throw new TypeError(`compile: custom metric '${name}': 'fn' must be a function (yTrue, yPred) => Tensor, got ${describe(fn)}`);
    return { name, kernel: { kind: 'custom', fn: fn as LossOrMetricFn } };
  }
  switch (metric) {
    case 'accuracy':
    case 'acc': {
      const m: MetricKind = loss.name === 'binaryCrossentropy' ? 'binaryAccuracy' : loss.name === 'sparseCategoricalCrossentropy' ? 'sparseCategoricalAccuracy' : 'categoricalAccuracy';
      return { name: 'accuracy', kernel: { kind: 'metric', metric: m } };
    }
    case 'binaryAccuracy':
    case 'categoricalAccuracy':
    case 'sparseCategoricalAccuracy':
      return { name: metric, kernel: { kind: 'metric', metric } };
    case 'mae':
    case 'meanAbsoluteError':
      return { name: 'mae', kernel: { kind: 'loss', loss: { name: 'meanAbsoluteError', fromLogits: false } } };
    case 'mse':
    case 'meanSquaredError':
      return { name: 'mse', kernel: { kind: 'loss', loss: { name: 'meanSquaredError', fromLogits: false } } };
    case 'rmse':
    case 'rootMeanSquaredError':
      return { name: 'rmse', kernel: { kind: 'loss', loss: { name: 'meanSquaredError', fromLogits: false } }, finish: (m) => Math.sqrt(m[0]!) };
    case 'precision':
    case 'recall':
    case 'auc': {
      if (loss.name === 'sparseCategoricalCrossentropy') throw new TypeError(`compile: metric '${metric}' needs binary (or one-hot) targets, not the integer labels of sparseCategoricalCrossentropy`);
      if (metric === 'auc') {
        const thresholds = aucThresholds(200);
        return { name: 'auc', kernel: { kind: 'confusion', thresholds }, finish: (m) => rocAuc(m, thresholds.length) };
      }
      const finish = metric === 'precision'
        ? (m: ArrayLike<number>) => { const c = confusionCounts(m, 1); return ratio(c.tp[0]!, c.tp[0]! + c.fp[0]!); }
        : (m: ArrayLike<number>) => { const c = confusionCounts(m, 1); return ratio(c.tp[0]!, c.positives); };
      return { name: metric, kernel: { kind: 'confusion', thresholds: [0.5] }, finish };
    }
    case 'mape':
    case 'meanAbsolutePercentageError':
      return { name: 'mape', kernel: { kind: 'loss', loss: { name: 'meanAbsolutePercentageError', fromLogits: false } } };
    default:
      throw new TypeError(`compile: unknown metric ${describe(metric)}; use 'accuracy', 'binaryAccuracy', 'categoricalAccuracy', 'sparseCategoricalAccuracy', 'mae', 'mse', 'mape', 'rmse', 'precision', 'recall' or 'auc', or a function (yTrue, yPred) => Tensor or {name, fn} (custom metrics are not saved: compile a loaded model again to use one)`);
  }
}
