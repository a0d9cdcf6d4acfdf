// Sequential models: a stack of layers trained layer by layer (forward keeps what backward needs,
// backward chains the gradients), with Keras' compile / fit / evaluate / predict / trainOnBatch.
// Every training step runs in its own scope: nothing but parameters and optimizer state survive
// it, and the only device-to-host transfer is reading the step's loss and metric values (fit reads
// them asynchronously; evaluate reads all batches' values once at the end; predict assembles its
// output on the device). Batches go to the device of the model's parameters.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeviceName } from '../../binding';
import { describe, getDevice } from '../backend';
import type { Callback, CallbackHooks, Logs } from '../callbacks';
import { dispose, endScope, startScope, tidy } from '../engine';
// lib/io/model-io imports this module (and, through callbacks, model-checkpoint imports model-io):
// both sides use the other only inside functions, never while loading, so the cycle is harmless.
import * as modelIo from '../io/model-io';
import { Dense, GRU, Layer, TimeDistributed, type CallContext, type LayerShape, type Param } from '../layers';
import { resolveLoss, type LossSpec } from '../losses';
import { resolveMetric, type MetricSpec } from '../metrics';
import { native } from '../native';
import * as ops from '../ops';
import { checkOptions } from '../options';
import { resolveOptimizer, type Optimizer } from '../optimizers';
import { Rng, getRngState, globalRng } from '../random';
import { Tensor, shapeSize, tensor } from '../tensor';
import { batchSlice, classWeightsOf, cutSamples, hostData, sampleWeightsOf, type Data, type HostData, type SampleWeights } from '../training/data';
import { fusedDense, lossAndMetricsInto, withFused, type OutputLoss } from '../training/loss';
import { History, checkSource, fail, loopOptions, positiveInteger, sourceElements, sourceEpochs, trainLoop, weightedMeans, type BatchSource, type DatasetBatch } from '../training/engine';

export { History };

export type { Data, SampleWeights };

export interface CompileArgs {
  optimizer: Optimizer | 'sgd' | 'adam' | 'adamw' | 'rmsprop';
  loss: string | LossSpec;
  metrics?: string[];
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
  loss: { name: string; fromLogits: boolean };
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
/** What fitDataset takes (docs/models.md, Datasets). */
export interface FitDatasetArgs {
  epochs?: number;
  /** Batches per epoch; without it each epoch runs the dataset to its end (iterated afresh). */
  batchesPerEpoch?: number;
  /** A dataset (evaluated whole after each epoch), [x, y] or [x, y, sampleWeight]. */
  validationData?: BatchSource | [Data, Data] | [Data, Data, SampleWeights];
  callbacks?: Array<Callback | CallbackHooks>;
  verbose?: 0 | 1 | 2;
  initialEpoch?: number;
  signal?: AbortSignal;
}
const FIT_DATASET_KEYS = ['epochs', 'batchesPerEpoch', 'validationData', 'callbacks', 'verbose', 'initialEpoch', 'signal'];
const FIT_DATASET_REFUSED: Record<string, string> = {
  stepsPerEpoch: "it is called 'batchesPerEpoch' here (tfjs' name)",
  batchSize: 'the dataset makes the batches',
  shuffle: 'the dataset decides the order (shuffle it)',
  validationSplit: 'a dataset cannot be split without holding it; give validationData',
  sampleWeight: 'a dataset batch carries its own sampleWeight ({xs, ys, sampleWeight})',
  classWeight: 'fold class weights into each batch\'s sampleWeight',
};

const COMPILE_REFUSED: Record<string, string> = {
  weightedMetrics: 'metrics are unweighted; sampleWeight and classWeight weight the loss only',
  lossWeights: 'a sequential model has one output and one loss',
  runEagerly: 'there is no graph mode: every step runs eagerly on native kernels',
  jitCompile: 'there is no graph compiler: every step runs on native kernels',
  stepsPerExecution: 'each step is one call already',
};

export class Sequential {
  layers: Layer[] = [];
  optimizer: Optimizer | null = null;
  stopTraining = false;
  private lossSpec: LossSpec | null = null;
  private metricSpecs: MetricSpec[] = [];
  /** A final dense layer whose activation the loss absorbs (softmax + CCE, sigmoid + BCE). */
  private fused: Dense | null = null;
  /** Set by dispose(): every method then throws instead of silently re-initialising the layers. */
  private disposed = false;
  /**
   * The random stream of the running (or last) fit: shuffling and dropout seeds. Each fit draws
   * it from the global generator when it starts, so concurrent fits do not share draws.
   */
  private trainingRng: Rng | null = null;
  /** A checkpoint's stream state for the next fit to continue (resumeTrainingRng). */
  private resumedRngState: number | null = null;
  readonly name: string;

  constructor(args: { layers?: Layer[]; name?: string } = {}) {
    checkOptions('sequential', args, ['layers', 'name']);
    if (args.layers !== undefined && !Array.isArray(args.layers)) fail(`sequential: 'layers' must be an array of layers, got ${describe(args.layers)}`);
    if (args.name !== undefined && (typeof args.name !== 'string' || !args.name)) fail(`sequential: 'name' must be a non-empty string, got ${describe(args.name)}`);
    this.name = args.name ?? 'sequential';
    for (const l of args.layers ?? []) this.add(l);
  }

  /** Throws when the model was disposed: its parameters are gone and must not be re-created behind the caller's back. */
  private assertLive(method: string): void {
    if (this.disposed) throw new Error(`model: this model was disposed (${method} called after dispose()); build or load a new model`);
  }

  /** The training stream's state, which checkpoints save: the current (or last) fit's, else the global generator's. */
  get trainingRngState(): number {
    return this.trainingRng?.getState() ?? getRngState();
  }

  /** Makes the next fit continue a checkpoint's training stream instead of drawing a new one (restoreCheckpoint). */
  resumeTrainingRng(state: number): void {
    this.resumedRngState = state >>> 0;
  }

  add(layer: Layer): void {
    this.assertLive('add');
    if (!(layer instanceof Layer)) fail(`model.add: argument must be a layer, got ${describe(layer)}`);
    if (layer.disposed) fail(`model.add: layer ${layer.name} was disposed`);
    if (layer instanceof GRU && layer.returnState) fail(`model.add: ${layer.name} has returnState: true, which a sequential model cannot pass on; use layer.call() directly`);
    if (this.layers.length === 0) {
      if (layer.inputShape) layer.build(layer.inputShape);
    } else {
      if (layer.inputShape && !(layer instanceof TimeDistributed)) fail(`model.add: only the first layer may have an inputShape (${layer.name})`);
      const prev = this.layers[this.layers.length - 1]!;
      if (prev.built) layer.build(prev.outputShape!);
    }
    this.layers.push(layer);
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

  get params(): Param[] {
    return this.layers.flatMap((l) => l.params);
  }

  /**
   * The device the model computes on: its parameters' (made on the current device when the model
   * was built), or the current device for a model without parameters. Batches are put there.
   */
  get device(): DeviceName {
    let first: Param | null = null;
    for (const p of this.params) {
      if (p.value.isDisposed) continue;
      if (!first) first = p;
      else if (p.value.device !== first.value.device) {
        fail(`model: its parameters are on two devices (${first.name} on ${first.value.device}, ${p.name} on ${p.value.device}): build every layer while one device is current (setDevice() before creating the model)`);
      }
    }
    return first ? first.value.device : getDevice();
  }

  countParams(): number {
    this.assertLive('countParams');
    return this.layers.reduce((s, l) => s + l.countParams(), 0);
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
    const line = (c: string) => c.repeat(w[0]! + w[1]! + w[2]!);
    const fmt = (r: string[]) => r.map((c, i) => c.padEnd(w[i]!)).join('');
    const total = this.countParams();
    const trainable = this.params.filter((p) => p.trainable).reduce((s, p) => s + p.value.size, 0);
    const out = [
      `Model: "${this.name}"`,
      line('_'),
      fmt(['Layer (type)', 'Output Shape', 'Param #']),
      line('='),
      ...rows.flatMap((r, i) => (i ? [line('_'), fmt(r)] : [fmt(r)])),
      line('='),
      `Total params: ${total.toLocaleString('en-US')}`,
      `Trainable params: ${trainable.toLocaleString('en-US')}`,
      `Non-trainable params: ${(total - trainable).toLocaleString('en-US')}`,
      line('_'),
    ].join('\n');
    print(out);
    return out;
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
    this.lossSpec = loss;
    this.metricSpecs = metrics;
    this.fused = fusedDense(this.layers[this.layers.length - 1], loss);
  }

  /** The compiled loss, metrics and optimizer config (JSON-ready), or null before compile(). */
  get trainingConfig(): TrainingConfig | null {
    if (!this.optimizer || !this.lossSpec) return null;
    return {
      loss: { name: this.lossSpec.name, fromLogits: this.lossSpec.fromLogits },
      metrics: this.metricSpecs.map((m) => m.name),
      optimizer: this.optimizer.getConfig(),
    };
  }

  // ---------------------------------------------------------------- saving and interop (lib/io)

  /** Saves the model into a directory, crash-safely (docs/io.md); same as io.saveModel(model, dir). */
  save(dir: string, options?: modelIo.SaveOptions): void {
    this.assertLive('save');
    modelIo.saveModel(this, dir, options);
  }

  /** Loads PyTorch or Keras weights into the layers (docs/io.md); same as io.loadWeights(model, file). */
  loadWeights(file: string, options?: modelIo.LoadWeightsOptions): void {
    this.assertLive('loadWeights');
    modelIo.loadWeights(this, file, options);
  }

  /** Writes the model as an ONNX file (docs/io.md); same as io.exportOnnx(model, file). */
  exportOnnx(file: string, options?: { opset?: number; ignoreMasking?: boolean }): void {
    this.assertLive('exportOnnx');
    modelIo.exportOnnx(this, file, options);
  }

  // ---------------------------------------------------------------- data

  private checkX(x: HostData, what: string): void {
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
  private checkY(fn: string, x: HostData, y: HostData, what = 'y'): void {
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

  private batchTensor(d: HostData, order: Int32Array | null, start: number, end: number): Tensor {
    const slice = batchSlice(d.data, d.perSample, order, start, end);
    const t = tensor(slice, [end - start, ...d.shape.slice(1)], d.data instanceof Int32Array ? 'int32' : 'float32', { device: this.device });
    this.hostCopies.set(t, slice);
    return t;
  }

  /** Host copies of the batches made by batchTensor(), for layers that look at input values. */
  private hostCopies = new WeakMap<Tensor, Float32Array | Int32Array>();

  /** Lengths of the last forward's sequence output (right-padded input under a mask), or null. */
  private lastLengths: Int32Array | null = null;

  // ---------------------------------------------------------------- steps

  /** `rng` gives dropout seeds (training only: inference draws nothing). */
  private forward(x: Tensor, training: boolean, rng: Rng = globalRng): Tensor {
    const data = this.hostCopies.get(x);
    const ctx: CallContext = { training, lengths: null, host: data ? { tensor: x, data } : null, rng };
    let h = x;
    for (const l of this.layers) h = l.forward(h, ctx);
    this.lastLengths = h.rank >= 3 ? ctx.lengths : null;
    return h;
  }

  /** Loss and metric values of one batch into a small tensor; the loss gradient when wanted. */
  private lossAndMetrics(out: Tensor, y: Tensor, withGrad: boolean, sampleWeights: Float32Array | null): { values: Tensor; grad: Tensor | null } {
    const o: OutputLoss = { spec: this.lossSpec!, metrics: this.metricSpecs, fused: this.fused };
    const values = ops.empty([1 + this.metricSpecs.length], out.device);
    return { values, grad: lossAndMetricsInto(o, out, y, this.lastLengths, sampleWeights, values, 0, withGrad) };
  }

  private withFused<T>(fn: () => T): T {
    return withFused([this.fused], fn);
  }

  /**
   * One training step on tensors; returns [loss, ...metrics] as a new device tensor (the step's only
   * survivor; the caller reads and disposes it). applyUpdate false leaves gradients in params (caller clears).
   */
  private stepValues(x: Tensor, y: Tensor, sampleWeights: Float32Array | null, rng: Rng, applyUpdate = true, collect?: (params: Param[]) => void): Tensor {
    if (!this.optimizer || !this.lossSpec) fail('model: call compile({optimizer, loss}) before training or evaluating');
    startScope('trainStep');
    let result: Tensor | undefined;
    try {
      result = this.withFused(() => {
        const out = this.forward(x, true, rng);
        const { values, grad } = this.lossAndMetrics(out, y, true, sampleWeights);
        let dy = grad!;
        for (let i = this.layers.length - 1; i >= 0; i--) {
          const l = this.layers[i]!;
          if (i === 0 && l.inputDType === 'int32') l.backward(dy);
          else dy = l.backward(dy);
        }
        if (applyUpdate) this.optimizer!.apply(this.params);
        else collect?.(this.params);
        return values;
      });
      return result;
    } finally {
      for (const l of this.layers) l.clearSaved();
      for (const p of this.params) p.grad = null;
      endScope(result);
    }
  }

  /** One training step on tensors; returns [loss, ...metrics] (read synchronously). */
  private step(x: Tensor, y: Tensor, sampleWeights: Float32Array | null, applyUpdate = true, collect?: (params: Param[]) => void): number[] {
    // One step outside fit: its own stream, drawn from the global generator now.
    const values = this.stepValues(x, y, sampleWeights, new Rng(globalRng.nextStreamSeed()), applyUpdate, collect);
    try {
      return Array.from(values.dataSync());
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
    const { xh, yh } = this.trainingData('trainOnBatch', x, y);
    const weights = this.sampleWeights('trainOnBatch', options.sampleWeight, options.classWeight, yh);
    const vals = tidy(() => this.step(this.batchTensor(xh, null, 0, xh.shape[0]!), this.batchTensor(yh, null, 0, yh.shape[0]!), weights));
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

  private logNames(): string[] {
    return ['loss', ...this.metricSpecs.map((m) => m.name)];
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
    if (args.resumeFrom !== undefined && (typeof args.resumeFrom !== 'string' || !args.resumeFrom)) fail(`fit: 'resumeFrom' must be a checkpoint directory, got ${describe(args.resumeFrom)}`);
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
    // After the data checks (which build the model): weights, optimizer and RNG state, next epoch.
    if (args.resumeFrom !== undefined && fs.existsSync(path.join(args.resumeFrom, 'model.json'))) {
      initialEpoch = modelIo.restoreCheckpoint(this, args.resumeFrom).initialEpoch;
    }
    // This fit's stream, drawn now (before the first await), or the checkpoint's it continues.
    const rng = this.startTrainingRng();
    const samples = xh.shape[0]!;
    const steps = Math.ceil(samples / batchSize);
    const train = xh, target = yh, trainWeights = weights;
    const self = this;
    return trainLoop({
      model: this, callbackModel: this, epochs, initialEpoch, verbose: loop.verbose, callbacks: loop.callbacks, signal: loop.signal,
      params: { epochs, steps, samples, batchSize, verbose: loop.verbose, metrics: this.logNames() },
      *epochBatches() {
        const order = args.shuffle === false ? null : rng.permutation(samples);
        for (let b = 0; b < steps; b++) {
          const start = b * batchSize;
          const end = Math.min(samples, start + batchSize);
          const batchWeights = trainWeights && batchSlice(trainWeights, 1, order, start, end);
          yield { size: end - start, step: () => tidy(() => self.stepValues(self.batchTensor(train, order, start, end), self.batchTensor(target, order, start, end), batchWeights, rng)) };
        }
      },
      validate: val ? () => this.evaluateHost(val!.x, val!.y, val!.weights, validationBatchSize) : null,
    });
  }

  /** This fit's random stream: drawn from the global generator, or the checkpoint's it continues. */
  private startTrainingRng(): Rng {
    const rng = new Rng(globalRng.nextStreamSeed());
    if (this.resumedRngState !== null) rng.setState(this.resumedRngState);
    this.resumedRngState = null;
    this.trainingRng = rng;
    return rng;
  }

  /** Throws when the model was disposed (the training loop checks it before every step). */
  assertUsable(fn: string): void {
    this.assertLive(fn);
  }

  /** One dataset element ({xs, ys, sampleWeight?}, data or tensors) on the host, checked. */
  private datasetBatch(fn: string, element: unknown, index: number): { xh: HostData; yh: HostData; weights: Float32Array | null } {
    if (typeof element !== 'object' || element === null || !('xs' in element) || !('ys' in element)) fail(`${fn}: dataset element ${index} must be {xs, ys, sampleWeight?}, got ${describe(element)}`);
    const e = element as DatasetBatch<Data, Data>;
    checkOptions(`${fn}: dataset element ${index}`, e, ['xs', 'ys', 'sampleWeight']);
    const { xh, yh } = this.trainingData(fn, e.xs, e.ys, [`dataset element ${index} xs`, `dataset element ${index} ys`]);
    return { xh, yh, weights: this.sampleWeights(fn, e.sampleWeight, undefined, yh) };
  }

  /**
   * Trains on a dataset: batches of {xs, ys, sampleWeight?} (docs/models.md, Datasets). Tensors a
   * batch holds are disposed after its step; the data set is never held whole.
   */
  async fitDataset(dataset: BatchSource, args: FitDatasetArgs = {}): Promise<History> {
    this.assertLive('fitDataset');
    if (!this.optimizer || !this.lossSpec) fail('fitDataset: call compile({optimizer, loss}) before fitDataset()');
    checkSource('fitDataset', dataset);
    checkOptions('fitDataset', args, FIT_DATASET_KEYS, { refused: FIT_DATASET_REFUSED });
    const loop = loopOptions('fitDataset', args);
    const batchesPerEpoch = args.batchesPerEpoch === undefined ? null : positiveInteger('fitDataset', 'batchesPerEpoch', args.batchesPerEpoch, 1);
    const validate = this.datasetValidation('fitDataset', args.validationData);
    const rng = this.startTrainingRng();
    return trainLoop({
      model: this, callbackModel: this, ...loop,
      params: { epochs: loop.epochs, steps: batchesPerEpoch ?? 0, samples: 0, batchSize: 0, verbose: loop.verbose, metrics: this.logNames() },
      epochBatches: sourceEpochs('fitDataset', dataset, batchesPerEpoch, (element, i) => {
        const { xh, yh, weights } = this.datasetBatch('fitDataset', element, i);
        const n = xh.shape[0]!;
        return { size: n, step: () => tidy(() => this.stepValues(this.batchTensor(xh, null, 0, n), this.batchTensor(yh, null, 0, n), weights, rng)) };
      }),
      validate,
    });
  }

  /** fitDataset's validationData: a dataset, [x, y] or [x, y, sampleWeight]; as a validate function. */
  private datasetValidation(fn: string, data: unknown): (() => Logs | Promise<Logs>) | null {
    if (data === undefined) return null;
    if (Array.isArray(data)) {
      if (data.length < 2 || data.length > 3) fail(`${fn}: 'validationData' must be a dataset, [x, y] or [x, y, sampleWeight], got ${describe(data)}`);
      const v = this.trainingData(fn, data[0], data[1], ['validationData x', 'validationData y']);
      const w = data[2] === undefined ? null : this.sampleWeights(`${fn}: validationData`, data[2], undefined, v.yh);
      return () => this.evaluateHost(v.xh, v.yh, w, 32);
    }
    checkSource(fn, data);
    return () => this.evaluateSource(fn, data as BatchSource, null);
  }

  private async evaluateSource(fn: string, dataset: BatchSource, limit: number | null): Promise<Logs> {
    const rows: { size: number; values: Float32Array }[] = [];
    let i = 0;
    for await (const element of sourceElements(fn, dataset, limit)) {
      try {
        const { xh, yh, weights } = this.datasetBatch(fn, element, i++);
        rows.push({ size: xh.shape[0]!, values: this.evaluateBatch(xh, yh, weights) });
      } finally {
        dispose(element);
      }
    }
    if (!rows.length) fail(`${fn}: the dataset gave no batch`);
    return weightedMeans(this.logNames(), rows);
  }

  /** [loss, ...metrics] of one whole host batch (inference mode). */
  private evaluateBatch(xh: HostData, yh: HostData, weights: Float32Array | null): Float32Array {
    const n = xh.shape[0]!;
    return tidy(() => this.withFused(() => {
      const out = this.forward(this.batchTensor(xh, null, 0, n), false);
      return this.lossAndMetrics(out, this.batchTensor(yh, null, 0, n), false, weights).values.dataSync() as Float32Array;
    }));
  }

  /** Loss and metrics over a dataset's batches (all, or the first `batches`), weighted by batch size. */
  async evaluateDataset(dataset: BatchSource, args: { batches?: number } = {}): Promise<Logs> {
    this.assertLive('evaluateDataset');
    if (!this.lossSpec) fail('evaluateDataset: call compile({optimizer, loss}) before evaluateDataset()');
    checkSource('evaluateDataset', dataset);
    checkOptions('evaluateDataset', args, ['batches'], { refused: { steps: "it is called 'batches' here" } });
    const limit = args.batches === undefined ? null : positiveInteger('evaluateDataset', 'batches', args.batches, 1);
    return this.evaluateSource('evaluateDataset', dataset, limit);
  }

  private evaluateHost(xh: HostData, yh: HostData, weights: Float32Array | null, batchSize: number): Logs {
    if (!this.lossSpec) fail('evaluate: call compile({optimizer, loss}) before evaluate()');
    const names = this.logNames();
    const k = names.length;
    const n = xh.shape[0]!;
    const batches = Math.ceil(n / batchSize);
    // Each batch's [loss, ...metrics] goes into one device tensor, read once at the end: no
    // device-to-host transfer per batch.
    const all = tidy(() => {
      const acc = ops.empty([batches, k], this.device);
      try {
        for (let b = 0; b < batches; b++) {
          const start = b * batchSize;
          const end = Math.min(n, start + batchSize);
          tidy(() =>
            this.withFused(() => {
              const out = this.forward(this.batchTensor(xh, null, start, end), false);
              ops.writeFirst_(acc, this.lossAndMetrics(out, this.batchTensor(yh, null, start, end), false, weights && weights.subarray(start, end)).values, b);
            }),
          );
        }
        return acc.dataSync();
      } finally {
        acc.dispose();
      }
    });
    const sums = new Float64Array(k);
    for (let b = 0; b < batches; b++) {
      const size = Math.min(n, (b + 1) * batchSize) - b * batchSize;
      for (let i = 0; i < k; i++) sums[i] += all[b * k + i]! * size;
    }
    const logs: Logs = {};
    names.forEach((name, i) => (logs[name] = sums[i]! / n));
    return logs;
  }

  /** Loss and metrics over (x, y), batched: {loss, accuracy?, ...}; sampleWeight weights the loss as in fit. */
  evaluate(x: Data, y: Data, args: { batchSize?: number; sampleWeight?: SampleWeights } = {}): Logs {
    this.assertLive('evaluate');
    if (!this.lossSpec) fail('evaluate: call compile({optimizer, loss}) before evaluate()');
    checkOptions('evaluate', args, ['batchSize', 'sampleWeight'], { refused: { steps: DATASET_ONLY } });
    const batchSize = positiveInteger('evaluate', 'batchSize', args.batchSize, 32);
    const { xh, yh } = this.trainingData('evaluate', x, y);
    return this.evaluateHost(xh, yh, this.sampleWeights('evaluate', args.sampleWeight, undefined, yh), batchSize);
  }

  /** Outputs for x, computed in batches; one new tensor [samples, ...outputShape]. */
  predict(x: Data, args: { batchSize?: number } = {}): Tensor {
    this.assertLive('predict');
    checkOptions('predict', args, ['batchSize'], { refused: { steps: DATASET_ONLY } });
    const batchSize = positiveInteger('predict', 'batchSize', args.batchSize, 32);
    const xh = hostData(x, 'predict: x', this.layers[0]?.inputDType ?? 'float32');
    this.checkX(xh, 'predict: x');
    const n = xh.shape[0]!;
    // Batches are written into the output on the model's device: no host round trip.
    let out: Tensor | null = null;
    try {
      for (let start = 0; start < n; start += batchSize) {
        const end = Math.min(n, start + batchSize);
        const made = tidy(() => {
          const y = this.forward(this.batchTensor(xh, null, start, end), false);
          const first = out ? null : ops.empty([n, ...y.shape.slice(1)], y.device);
          ops.writeFirst_(out ?? first!, y, start);
          return first;
        });
        out ??= made;
      }
    } catch (err) {
      out?.dispose();
      throw err;
    }
    return out!;
  }

  /** Clears the carried state of stateful GRU layers. */
  resetStates(): void {
    this.assertLive('resetStates');
    for (const l of this.layers) if (l instanceof GRU) l.resetStates();
  }

  /** Host copies of every parameter, in order. */
  getWeights(): Float32Array[] {
    this.assertLive('getWeights');
    this.ensureBuilt();
    return this.params.map((p) => p.value.dataSync() as Float32Array);
  }

  setWeights(weights: ArrayLike<number>[]): void {
    this.assertLive('setWeights');
    const params = this.params;
    if (!Array.isArray(weights) || weights.length !== params.length) fail(`setWeights: expected ${params.length} arrays (one per parameter), got ${describe(weights)}`);
    params.forEach((p, i) => {
      const w = weights[i]!;
      if (!(w instanceof Float32Array) && !(Array.isArray(w) && w.every((v) => typeof v === 'number'))) fail(`setWeights: weight ${i} (${p.name}) must be a Float32Array or an array of numbers, got ${describe(w)}`);
      if (w.length !== p.value.size) fail(`setWeights: ${p.name} needs ${p.value.size} values, got ${w.length}`);
      native.write(p.value.handle('setWeights'), w instanceof Float32Array ? w : Float32Array.from(w));
    });
  }

  /** Frees parameters and optimizer state. */
  /** Frees parameters and optimizer state; the model cannot be used afterwards (a second call does nothing). */
  dispose(): void {
    if (this.disposed) return;
    for (const l of this.layers) l.dispose();
    this.optimizer?.dispose();
    this.disposed = true;
  }
}

export function sequential(args: { layers?: Layer[]; name?: string } | Layer[] = {}): Sequential {
  return new Sequential(Array.isArray(args) ? { layers: args } : args);
}
