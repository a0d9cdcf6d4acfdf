// data.timeSeries: forecasting samples from a dataset of rows in time order (a csv of series).
import { checkOptions } from '../options';
import { describe } from '../backend';
import { Dataset } from './dataset';
import { hostRow, hostRows, isHostTensor, type HostTensor, type Leaf } from './elements';

export interface TimeSeriesOptions {
  /** Time steps per input sample. */
  window: number;
  /** How many steps after a window's last row its target row is (default 1: the next row). */
  horizon?: number;
  /** Rows between the starts of consecutive samples (default 1). */
  shift?: number;
}

/** A forecasting sample: `xs` [window, features], `ys` the target row's values. */
export interface TimeSeriesSample {
  xs: HostTensor;
  ys: HostTensor;
}

/**
 * Turns rows in time order into `{xs: [window, features], ys}` samples: `xs` holds rows t … t+window−1
 * and `ys` row t+window−1+horizon (its labels when the rows are `{xs, ys}`, as csv with labelColumns
 * gives, else the whole row). Built on window(), so it holds window + horizon rows at a time; batch()
 * the result for training.
 */
export function timeSeries(rows: Dataset<Leaf | { xs: Leaf; ys: Leaf }>, options: TimeSeriesOptions): Dataset<TimeSeriesSample> {
  if (!(rows instanceof Dataset)) throw new TypeError(`timeSeries: argument 'rows' must be a Dataset (data.csv(...), say), got ${describe(rows)}`);
  checkOptions('timeSeries', options, ['window', 'horizon', 'shift'], { optional: false });
  const { window, horizon = 1, shift = 1 } = options;
  for (const [name, value] of [['window', window], ['horizon', horizon], ['shift', shift]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`timeSeries: option '${name}' must be a positive integer, got ${describe(value)}`);
  }
  return rows.window(window + horizon, shift).map((span) => {
    const labelled = !isHostTensor(span);
    const inputs = labelled ? (span as { xs: HostTensor }).xs : (span as HostTensor);
    const targets = labelled ? (span as { ys: HostTensor }).ys : (span as HostTensor);
    if (!isHostTensor(inputs) || !isHostTensor(targets)) throw new TypeError(`timeSeries: rows must be feature rows or {xs, ys}, got an element with keys [${Object.keys(span)}]`);
    return { xs: hostRows(inputs, 0, window), ys: hostRow(targets, window + horizon - 1) };
  });
}
