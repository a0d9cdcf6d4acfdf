// Datasets for fitDataset/evaluateDataset: lazy, chainable, re-iterable streams of samples.
export { Dataset, generator, type IteratorFactory } from './dataset';
export { fromArrays, type ArrayData, type ArraysOrNamed, type Sample } from './arrays';
export { csv, type CsvOptions, type ColumnSpec } from './csv';
export { timeSeries, type TimeSeriesOptions, type TimeSeriesSample } from './time-series';
export type { HostTensor, Leaf, Stacked } from './elements';
