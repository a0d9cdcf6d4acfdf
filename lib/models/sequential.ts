// Sequential models: a stack of layers trained layer by layer (forward keeps what backward needs,
// backward chains the gradients), with Keras' compile / fit / evaluate / predict / trainOnBatch.
// Every training step runs in its own scope: nothing but parameters and optimizer state survive
// it, and the only device-to-host transfer is reading the step's loss and metric values (fit reads
// them asynchronously; evaluate reads all batches' values once at the end; predict assembles its
// output on the device). Batches go to the device of the model's parameters.
import { describe } from '../backend';
import type { Callback, CallbackHooks, Logs } from '../callbacks';
import { tidy } from '../engine';
import { FusedRecurrent, Layer, SymbolicTensor, TimeDistributed, type LayerShape, type Param } from '../layers';
import { resolveLoss, type LossSpec } from '../losses';
import { resolveMetric } from '../metrics';
import { checkOptions } from '../options';
import { resolveOptimizer, type Optimizer } from '../optimizers';
import type { LossArg } from '../losses';
import type { MetricArg } from '../metrics';
import { Rng, globalRng } from '../random';
import { Tensor, shapeSize } from '../tensor';
import { LayersModel, ownOutputs } from './base';
import { batchSlice, classWeightsOf, cutSamples, hostData, sampleWeightsOf, type Data, type HostData, type SampleWeights } from '../training/data';
import { Graph } from '../training/graph';
import { fusedDense, lossConfig } from '../training/loss';
import { datasetElement, evaluateDatasetOptions, evaluateElements, type FitDatasetArgs as FitDatasetArgsOf } from '../training/arguments';
import { History, fail, loopOptions, positiveInteger, trainLoop, type BatchSource } from '../training/engine';
import { predictBatches, runNow, runYielding } from '../training/predict';

export { History };

export type { Data, SampleWeights };

export interface CompileArgs {
  optimizer: Optimizer | 'sgd' | 'adam' | 'adamw' | 'rmsprop';
  loss: LossArg;
  metrics?: MetricArg[];
}

export interface FitArgs {
  epochs?: number;
  batchSize?: number;
  shuffle?: boolean;
  validationSplit?: number;
  /** [x, y] or [x, y, sampleWeight]. */
  validationData?: [Data, Data] | [Data, Data, SampleWeights];
  /**
   * One loss weight per sample (Keras sample_weight, shape [samples]): each sample's loss is
   * multiplied by it and the batch loss divided by the number of samples (not by the weights' sum).
   * With validationSplit its last part weights the validation loss. Metrics stay unweighted.
   */
  sampleWeight?: SampleWeights;
  /** Loss weight per class index (Keras class_weight), e.g. {0: 1, 1: 5}; classes not listed weigh 1. Training only. */
  classWeight?: Record<number, number>;
  /** Batch size of the validation pass (default: batchSize). */
  validationBatchSize?: number;
  callbacks?: Array<Callback | CallbackHooks>;
  /** 0: silent, 1: progress bar (plain lines when stdout is not a TTY), 2: one line per epoch. */
  verbose?: 0 | 1 | 2;
  initialEpoch?: number;
  /** Stops training cleanly (after the current batch); fit resolves with the history so far. */
  signal?: AbortSignal;
  /**
   * A checkpoint directory (modelCheckpoint's filepath): when it holds a checkpoint, its weights,
   * optimizer state and RNG state are restored and training continues after its epoch (this
   * overrides initialEpoch); when it holds none yet, training starts normally.
   */
  resumeFrom?: string;
}

/** What compile() was given, as JSON: the loss, metric names and optimizer settings. */
export interface TrainingConfig {
  loss: { name: string; fromLogits: boolean; delta?: number };
  metrics: string[];
  optimizer: Record<string, unknown>;
}



/** Validation data on the host, with the sample weights of its loss (or null). */
interface Validation {
  x: HostData;
  y: HostData;
  weights: Float32Array | null;
}

const DATASET_ONLY = 'it only means something when training from a dataset (a generator of batches); fit takes whole arrays, and every epoch sees every sample: use fitDataset(dataset, {batchesPerEpoch}) for that';
const FIT_KEYS = ['epochs', 'batchSize', 'shuffle', 'validationSplit', 'validationData', 'validationBatchSize', 'sampleWeight', 'classWeight', 'callbacks', 'verbose', 'initialEpoch', 'signal', 'resumeFrom'];
const FIT_REFUSED: Record<string, string> = {
  stepsPerEpoch: DATASET_ONLY, validationSteps: DATASET_ONLY,
  validationFreq: 'validation runs after every epoch, so that every History series has one value per epoch',
};
/** What Sequential.fitDataset takes. */
export type FitDatasetArgs = FitDatasetArgsOf<[Data, Data] | [Data, Data, SampleWeights]>;

const COMPILE_REFUSED: Record<string, string> = {
  weightedMetrics: 'metrics are unweighted; sampleWeight and classWeight weight the loss only',
  lossWeights: 'a sequential model has one output and one loss',
  runEagerly: 'there is no graph mode: every step runs eagerly on native kernels',
  jitCompile: 'there is no graph compiler: every step runs on native kernels',
  stepsPerExecution: 'each step is one call already',
};

export class Sequential extends LayersModel {
  layers: Layer[] = [];
  readonly name: string;

  constructor(args: { layers?: Layer[]; name?: string } = {}) {
    super();
    checkOptions('sequential', args, ['layers', 'name']);
    if (args.layers !== undefined && !Array.isArray(args.layers)) fail(`sequential: 'layers' must be an array of layers, got ${describe(args.layers)}`);
    if (args.name !== undefined && (typeof args.name !== 'string' || !args.name)) fail(`sequential: 'name' must be a non-empty string, got ${describe(args.name)}`);
    this.name = args.name ?? 'sequential';
    for (const l of args.layers ?? []) this.add(l);
  }

  add(layer: Layer): void {
    this.assertLive('add');
    if (!(layer instanceof Layer)) fail(`model.add: argument must be a layer, got ${describe(layer)}`);
    if (layer.disposed) fail(`model.add: layer ${layer.name} was disposed`);
    if (layer instanceof FusedRecurrent && layer.returnState) fail(`model.add: ${layer.name} has returnState: true, which a sequential model cannot pass on; use layer.call() directly`);
    if (this.layers.length === 0) {
      if (layer.inputShape) layer.build(layer.inputShape);
    } else {
      if (layer.inputShape && !(layer instanceof TimeDistributed)) fail(`model.add: only the first layer may have an inputShape (${layer.name})`);
      const prev = this.layers[this.layers.length - 1]!;
      if (prev.built) layer.build(prev.outputShape!);
    }
    this.layers.push(layer);
    this.chain = null;
  }

  /** Uses the stack as a layer of a functional graph: its layers are applied in turn (weights shared). */
  apply(input: SymbolicTensor): SymbolicTensor {
    this.assertLive('apply');
    if (!(input instanceof SymbolicTensor)) fail(`${this.name}.apply: argument 'input' must be a symbolic tensor (from input() or layer.apply()), got ${describe(input)}`);
    if (this.layers.length === 0) fail(`${this.name}.apply: the model has no layers`);
    return this.layers.reduce((h, l) => l.apply(h) as SymbolicTensor, input);
  }

  /** The last layer's name (as tfjs). */
  get outputNames(): string[] {
    return this.layers.length ? [this.layers[this.layers.length - 1]!.name] : [];
  }

  /** The compiled loss, or null before compile(). */
  private get lossSpec(): LossSpec | null {
    return this.outputLosses?.[0]!.spec ?? null;
  }

  get built(): boolean {
    return this.layers.length > 0 && this.layers.every((l) => l.built);
  }

  private ensureBuilt(inputShape?: LayerShape): void {
    if (this.layers.length === 0) fail('model: the model has no layers');
    let shape = this.layers[0]!.inputShape ?? inputShape;
    if (!shape) fail(`model: the first layer (${this.layers[0]!.name}) needs an inputShape, e.g. inputShape: [timesteps, features]`);
    for (const l of this.layers) shape = l.build(shape);
  }

  /** The output shape without the batch dimension. */
  get outputShape(): LayerShape {
    this.assertLive('outputShape');
    this.ensureBuilt();
    return this.layers[this.layers.length - 1]!.outputShape!;
  }

  /** A Keras-like table of layers, output shapes and parameter counts (printed unless print is false). */
  summary(print: (line: string) => void = console.log): string {
    this.assertLive('summary');
    if (typeof print !== 'function') fail(`summary: argument 'print' must be a function, got ${describe(print)}`);
    this.ensureBuilt();
    const rows = this.layers.map((l) => [`${l.name} (${l instanceof TimeDistributed ? `TimeDistributed(${l.layer.className})` : l.className})`, `(None, ${l.outputShape!.map((d) => (d === null ? 'None' : String(d))).join(', ')})`, String(l.countParams())]);
    const w = [Math.max(28, ...rows.map((r) => r[0]!.length + 2)), Math.max(26, ...rows.map((r) => r[1]!.length + 2)), 12];
    return this.summaryTable(print, ['Layer (type)', 'Output Shape', 'Param #'], rows, w);
  }

  compile(args: CompileArgs): void {
    this.assertLive('compile');
    if (typeof args !== 'object' || args === null) fail(`compile: argument must be {optimizer, loss, metrics?}, got ${describe(args)}`);
    checkOptions('compile', args, ['optimizer', 'loss', 'metrics'], { refused: COMPILE_REFUSED });
    const loss = resolveLoss(args.loss);
    const optimizer = resolveOptimizer(args.optimizer);
    if (args.metrics !== undefined && !Array.isArray(args.metrics)) fail(`compile: 'metrics' must be an array of names, got ${describe(args.metrics)}`);
    const metrics = (args.metrics ?? []).map((m) => resolveMetric(m, loss));
    this.optimizer?.dispose();
    this.optimizer = optimizer;
    // A final dense layer whose activation the loss absorbs (softmax + CCE, sigmoid + BCE).
    this.outputLosses = [{ spec: loss, metrics, fused: fusedDense(this.layers[this.layers.length - 1], loss) }];
    this.lossWeights = [1];
  }

  /** The compiled loss, metrics and optimizer config (JSON-ready), or null before compile(). */
  get trainingConfig(): TrainingConfig | null {
    if (!this.optimizer || !this.lossSpec) return null;
    return {
      loss: lossConfig(this.lossSpec),
      metrics: this.outputLosses![0]!.metrics.map((m) => m.name),
      optimizer: this.optimizer.getConfig(),
    };
  }

  // ---------------------------------------------------------------- saving and interop (lib/io)


  // ---------------------------------------------------------------- data

  private checkX(x: Pick<HostData, 'shape'>, what: string): void {
    this.ensureBuilt(x.shape.slice(1));
    const want = this.layers[0]!.inputShape!;
    const got = x.shape.slice(1);
    if (got.length !== want.length || want.some((d, i) => d !== null && d !== got[i])) {
      fail(`${what} must have shape [samples, ${want.map((d) => (d === null ? 'any' : d)).join(', ')}], got [${x.shape}]`);
    }
  }

  private yDType(): 'float32' | 'int32' {
    return this.lossSpec?.name === 'sparseCategoricalCrossentropy' ? 'int32' : 'float32';
  }

  /** `fn` and `what` name the function and argument in errors ('fit', 'y'). */
  private checkY(fn: string, x: Pick<HostData, 'shape'>, y: HostData, what = 'y'): void {
    if (x.shape[0] !== y.shape[0]) fail(`${fn}: x and ${what} have different sample counts: ${x.shape[0]} and ${y.shape[0]}`);
    what = `${fn}: ${what}`;
    const out = this.outputShape;
    const outConcrete = out.map((d, i) => (d === null ? x.shape[1 + i]! : d));
    const outSize = shapeSize(outConcrete);
    if (this.yDType() === 'int32') {
      const classes = outConcrete[outConcrete.length - 1]!;
      if (y.perSample * classes !== outSize) fail(`${what} must hold one class index per output row (shape [samples${outConcrete.length > 1 ? `, ${outConcrete.slice(0, -1).join(', ')}` : ''}]) for sparseCategoricalCrossentropy, got shape [${y.shape}]`);
      for (let i = 0; i < y.data.length; i++) {
        if (y.data[i]! < 0 || y.data[i]! >= classes) fail(`${what} has class index ${y.data[i]} at sample ${Math.floor(i / y.perSample)}; the model has ${classes} classes`);
      }
    } else if (y.perSample !== outSize) {
      fail(`${what} must have shape [samples, ${outConcrete.join(', ')}] to match the model's output, got [${y.shape}]`);
    }
  }

  /** Per-sample loss weights from sampleWeight or classWeight, or null for none. */
  private sampleWeights(fn: string, sampleWeight: unknown, classWeight: unknown, y: HostData): Float32Array | null {
    if (sampleWeight !== undefined && classWeight !== undefined) fail(`${fn}: give sampleWeight or classWeight, not both (as Keras); fold the class weights into sampleWeight`);
    if (sampleWeight !== undefined) return sampleWeightsOf(fn, sampleWeight, y.shape[0]!);
    if (classWeight === undefined) return null;
    return classWeightsOf(fn, classWeight, y, this.outputShape, this.yDType() === 'int32');
  }

  // ---------------------------------------------------------------- steps

  private forward(x: Tensor, training: boolean): Tensor {
    return this.trainingGraph().forward([x], training, globalRng, null, this.hostOf).outputs[0]!;
  }

  /** The stack as a chain of layer calls for the graph executor (made once built; add() drops it). */
  private chain: Graph | null = null;
  protected trainingGraph(): Graph {
    if (!this.chain) {
      const first = this.layers[0]!;
      const x = new SymbolicTensor([...first.inputShape!], first.inputDType, null, 0, `${this.name}_input`);
      this.chain = new Graph(this.name, [x], [this.layers.reduce((h, l) => l.apply(h) as SymbolicTensor, x)]);
    }
    return this.chain;
  }

  /** One training step on tensors; returns [loss, ...metrics] (read synchronously). */
  private step(x: Tensor, y: Tensor, sampleWeights: Float32Array | null, applyUpdate = true, collect?: (params: Param[]) => void): number[] {
    // One step outside fit: its own stream, drawn from the global generator now.
    const values = this.stepValues([x], [y], sampleWeights, new Rng(globalRng.nextStreamSeed()), applyUpdate, collect);
    try {
      return this.toLogs(values.dataSync());
    } finally {
      values.dispose();
    }
  }

  /** Loss and gradients (host copies, parameter order) of one batch, without updating: for tests and tools. */
  computeGradients(x: Data, y: Data): { loss: number; grads: Float32Array[] } {
    this.assertLive('computeGradients');
    const { xh, yh } = this.trainingData('computeGradients', x, y);
    return tidy(() => {
      const xb = this.batchTensor(xh, null, 0, xh.shape[0]!);
      const yb = this.batchTensor(yh, null, 0, yh.shape[0]!);
      let grads: Float32Array[] = [];
      const loss = this.step(xb, yb, null, false, (params) => {
        grads = params.map((p) => (p.grad ? (p.grad.dataSync() as Float32Array) : new Float32Array(p.value.size)));
      })[0]!;
      return { loss, grads };
    });
  }

  /** One update on one batch; returns the loss (and metrics: [loss, ...metrics] when compiled with metrics). */
  trainOnBatch(x: Data, y: Data, options: { sampleWeight?: SampleWeights; classWeight?: Record<number, number> } = {}): number | number[] {
    this.assertLive('trainOnBatch');
    checkOptions('trainOnBatch', options, ['sampleWeight', 'classWeight']);
    if (!this.optimizer) fail('trainOnBatch: call compile({optimizer, loss}) before trainOnBatch()');
    // x as predict takes it: a float32 tensor on the model's device is the batch itself (no host
    // round trip: at B64 T100 I128 that was 2-3 ms of a 58 ms step).
    const input = this.predictInput('trainOnBatch: x', x, this.layers[0]?.inputDType ?? 'float32');
    this.checkX(input, 'trainOnBatch: x');
    const yh = hostData(y, 'trainOnBatch: y', this.yDType());
    this.checkY('trainOnBatch', input, yh);
    const weights = this.sampleWeights('trainOnBatch', options.sampleWeight, options.classWeight, yh);
    const n = input.shape[0]!;
    const vals = tidy(() => this.step(input.batch(0, n), this.batchTensor(yh, null, 0, n), weights));
    return vals.length === 1 ? vals[0]! : vals;
  }

  /** x and y on the host, checked against the model ('fit: x must have shape ...'). */
  private trainingData(fn: string, x: Data, y: Data, names: [string, string] = ['x', 'y']): { xh: HostData; yh: HostData } {
    const xh = hostData(x, `${fn}: ${names[0]}`, this.layers[0]?.inputDType ?? 'float32');
    this.checkX(xh, `${fn}: ${names[0]}`);
    const yh = hostData(y, `${fn}: ${names[1]}`, this.yDType());
    this.checkY(fn, xh, yh, names[1]);
    return { xh, yh };
  }

  async fit(x: Data, y: Data, args: FitArgs = {}): Promise<History> {
    this.assertLive('fit');
    if (!this.optimizer || !this.lossSpec) fail('fit: call compile({optimizer, loss}) before fit()');
    checkOptions('fit', args, FIT_KEYS, { refused: FIT_REFUSED });
    const loop = loopOptions('fit', args);
    const epochs = loop.epochs;
    const batchSize = positiveInteger('fit', 'batchSize', args.batchSize, 32);
    const validationBatchSize = positiveInteger('fit', 'validationBatchSize', args.validationBatchSize, batchSize);
    let initialEpoch = loop.initialEpoch;
    if (args.shuffle !== undefined && typeof args.shuffle !== 'boolean') fail(`fit: 'shuffle' must be true or false, got ${describe(args.shuffle)}`);
    if (args.validationData !== undefined && (!Array.isArray(args.validationData) || args.validationData.length < 2 || args.validationData.length > 3)) {
      fail(`fit: 'validationData' must be [x, y] or [x, y, sampleWeight], got ${describe(args.validationData)}`);
    }
    const split = args.validationSplit ?? 0;
    if (typeof split !== 'number' || !(split >= 0 && split < 1)) fail(`fit: 'validationSplit' must be in [0, 1), got ${describe(args.validationSplit)}`);
    let { xh, yh } = this.trainingData('fit', x, y);
    let weights = this.sampleWeights('fit', args.sampleWeight, args.classWeight, yh);
    let val: Validation | null = null;
    if (args.validationData) {
      const [vx, vy, vw] = args.validationData;
      const v = this.trainingData('fit', vx, vy, ['validationData x', 'validationData y']);
      val = { x: v.xh, y: v.yh, weights: vw === undefined ? null : this.sampleWeights('fit: validationData', vw, undefined, v.yh) };
    } else if (split > 0) {
      const n = xh.shape[0]!;
      const nTrain = Math.floor(n * (1 - split));
      if (nTrain < 1 || nTrain >= n) fail(`fit: validationSplit ${split} leaves no training or no validation samples out of ${n}`);
      // As Keras: the last part of sampleWeight weights the validation loss; classWeight is for training only.
      val = { x: cutSamples(xh, nTrain, n), y: cutSamples(yh, nTrain, n), weights: args.sampleWeight !== undefined && weights ? weights.slice(nTrain) : null };
      xh = cutSamples(xh, 0, nTrain);
      yh = cutSamples(yh, 0, nTrain);
      weights = weights?.slice(0, nTrain) ?? null;
    }
    this.checkStatefulBatches('fit', xh.shape[0]!, batchSize, val && { samples: val.x.shape[0]!, batchSize: validationBatchSize });
    // After the data checks (which build the model): weights, optimizer and RNG state, next epoch.
    initialEpoch = this.resumeEpoch('fit', args.resumeFrom, initialEpoch);
    // This fit's stream, drawn now (before the first await), or the checkpoint's it continues.
    const rng = this.startTrainingRng();
    const samples = xh.shape[0]!;
    const steps = Math.ceil(samples / batchSize);
    const train = xh, target = yh, trainWeights = weights;
    const self = this;
    return trainLoop({
      model: this, callbackModel: this, epochs, initialEpoch, verbose: loop.verbose, callbacks: loop.callbacks, signal: loop.signal,
      params: { epochs, steps, samples, batchSize, verbose: loop.verbose, metrics: this.logNames() },
      toLogs: (v) => this.toLogs(v),
      *epochBatches() {
        const order = args.shuffle === false ? null : rng.permutation(samples);
        for (let b = 0; b < steps; b++) {
          const start = b * batchSize;
          const end = Math.min(samples, start + batchSize);
          const batchWeights = trainWeights && batchSlice(trainWeights, 1, order, start, end);
          yield { size: end - start, step: () => tidy(() => self.stepValues([self.batchTensor(train, order, start, end)], [self.batchTensor(target, order, start, end)], batchWeights, rng)) };
        }
      },
      validate: val ? () => this.evaluateHost(val!.x, val!.y, val!.weights, validationBatchSize) : null,
    });
  }

  /** One dataset element ({xs, ys, sampleWeight?}, data or tensors) on the host, checked. */
  private datasetBatch(fn: string, element: unknown, index: number): { xh: HostData; yh: HostData; weights: Float32Array | null } {
    const e = datasetElement(fn, element, index);
    const { xh, yh } = this.trainingData(fn, e.xs as Data, e.ys as Data, [`dataset element ${index} xs`, `dataset element ${index} ys`]);
    return { xh, yh, weights: this.sampleWeights(fn, e.sampleWeight, undefined, yh) };
  }

  /**
   * Trains on a dataset: batches of {xs, ys, sampleWeight?} (docs/models.md, Datasets). Tensors a
   * batch holds are disposed after its step; the data set is never held whole.
   */
  async fitDataset(dataset: BatchSource, args: FitDatasetArgs = {}): Promise<History> {
    this.assertLive('fitDataset');
    if (!this.optimizer || !this.lossSpec) fail('fitDataset: call compile({optimizer, loss}) before fitDataset()');
    return this.runFitDataset(dataset, args, {
      validateArrays: (x, y, w) => {
        const v = this.trainingData('fitDataset', x as Data, y as Data, ['validationData x', 'validationData y']);
        const weights = w === undefined ? null : this.sampleWeights('fitDataset: validationData', w, undefined, v.yh);
        return () => this.evaluateHost(v.xh, v.yh, weights, 32);
      },
      evaluateSource: (source) => this.evaluateSource('fitDataset', source, null),
      step: (element, i, rng) => {
        const { xh, yh, weights } = this.datasetBatch('fitDataset', element, i);
        const n = xh.shape[0]!;
        return { size: n, step: () => tidy(() => this.stepValues([this.batchTensor(xh, null, 0, n)], [this.batchTensor(yh, null, 0, n)], weights, rng)) };
      },
      logNames: this.logNames(),
      toLogs: (v) => this.toLogs(v),
    });
  }

  private evaluateSource(fn: string, dataset: BatchSource, limit: number | null): Promise<Logs> {
    return evaluateElements(fn, dataset, limit, this.logNames(), (element, i) => {
      const { xh, yh, weights } = this.datasetBatch(fn, element, i);
      return { size: xh.shape[0]!, values: this.evaluateBatch(xh, yh, weights) };
    }, (v) => this.toLogs(v));
  }

  /** [loss, ...metrics] of one whole host batch (inference mode). */
  private evaluateBatch(xh: HostData, yh: HostData, weights: Float32Array | null): Float32Array {
    const n = xh.shape[0]!;
    return tidy(() => this.evaluateValues([this.batchTensor(xh, null, 0, n)], [this.batchTensor(yh, null, 0, n)], weights).dataSync() as Float32Array);
  }

  /** Loss and metrics over a dataset's batches (all, or the first `batches`), weighted by batch size. */
  async evaluateDataset(dataset: BatchSource, args: { batches?: number } = {}): Promise<Logs> {
    this.assertLive('evaluateDataset');
    if (!this.lossSpec) fail('evaluateDataset: call compile({optimizer, loss}) before evaluateDataset()');
    return this.evaluateSource('evaluateDataset', dataset, evaluateDatasetOptions(dataset, args));
  }

  private evaluateHost(xh: HostData, yh: HostData, weights: Float32Array | null, batchSize: number): Logs {
    if (!this.lossSpec) fail('evaluate: call compile({optimizer, loss}) before evaluate()');
    return this.evaluateBatches(xh.shape[0]!, batchSize, (start, end) =>
      this.evaluateValues([this.batchTensor(xh, null, start, end)], [this.batchTensor(yh, null, start, end)], weights && weights.subarray(start, end)));
  }

  /** Loss and metrics over (x, y), batched: {loss, accuracy?, ...}; sampleWeight weights the loss as in fit. */
  evaluate(x: Data, y: Data, args: { batchSize?: number; sampleWeight?: SampleWeights } = {}): Logs {
    this.assertLive('evaluate');
    if (!this.lossSpec) fail('evaluate: call compile({optimizer, loss}) before evaluate()');
    checkOptions('evaluate', args, ['batchSize', 'sampleWeight'], { refused: { steps: DATASET_ONLY } });
    const batchSize = positiveInteger('evaluate', 'batchSize', args.batchSize, 32);
    const { xh, yh } = this.trainingData('evaluate', x, y);
    this.checkStatefulBatches('evaluate', xh.shape[0]!, batchSize);
    return this.evaluateHost(xh, yh, this.sampleWeights('evaluate', args.sampleWeight, undefined, yh), batchSize);
  }

  /** Outputs for x, computed in batches; one new tensor [samples, ...outputShape]. */
  predict(x: Data, args: { batchSize?: number } = {}): Tensor {
    return runNow(this.predictSteps('predict', x, args));
  }

  /** predict that lets the event loop run between batches; resolves with the same tensor. */
  predictAsync(x: Data, args: { batchSize?: number } = {}): Promise<Tensor> {
    return runYielding(this.predictSteps('predictAsync', x, args));
  }

  private *predictSteps(fn: string, x: Data, args: { batchSize?: number }): Generator<void, Tensor> {
    this.assertLive(fn);
    checkOptions(fn, args, ['batchSize'], { refused: { steps: DATASET_ONLY } });
    const batchSize = positiveInteger(fn, 'batchSize', args.batchSize, 32);
    const input = this.predictInput(`${fn}: x`, x, this.layers[0]?.inputDType ?? 'float32');
    this.checkX(input, `${fn}: x`);
    this.checkStatefulBatches(fn, input.shape[0]!, batchSize);
    const [out] = yield* predictBatches(input.shape[0]!, batchSize, (start, end) => {
      this.assertLive(fn); // predictAsync: disposed between batches
      const xb = input.batch(start, end);
      return ownOutputs([this.forward(xb, false)], [xb]);
    });
    return out!;
  }

  /** Host copies of every parameter, in order. */
  override getWeights(): Float32Array[] {
    this.assertLive('getWeights');
    this.ensureBuilt();
    return super.getWeights();
  }

}

export function sequential(args: { layers?: Layer[]; name?: string } | Layer[] = {}): Sequential {
  return new Sequential(Array.isArray(args) ? { layers: args } : args);
}
