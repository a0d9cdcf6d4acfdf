// Metrics by name (Keras conventions): 'accuracy' becomes binary, categorical or sparse accuracy
// according to the loss; 'mae', 'mse' and 'mape' are the losses' values without gradients.
import { describe } from './backend';
import type { LossSpec } from './losses';
import type { MetricKind } from './ops/math';

export interface MetricSpec {
  /** The key in logs and History ('accuracy', 'mae', ...). */
  name: string;
  kernel: { kind: 'metric'; metric: MetricKind } | { kind: 'loss'; loss: LossSpec };
}

export function resolveMetric(metric: unknown, loss: LossSpec): MetricSpec {
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
    case 'mape':
    case 'meanAbsolutePercentageError':
      return { name: 'mape', kernel: { kind: 'loss', loss: { name: 'meanAbsolutePercentageError', fromLogits: false } } };
    default:
      throw new TypeError(`compile: unknown metric ${describe(metric)}; use 'accuracy', 'binaryAccuracy', 'categoricalAccuracy', 'sparseCategoricalAccuracy', 'mae', 'mse' or 'mape'`);
  }
}
