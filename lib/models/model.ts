// Functional models (tfjs' tf.model, Keras' Model): a graph of layer calls from symbolic inputs
// to outputs, with several inputs and outputs, shared layers (a layer called twice shares its
// weights) and a loss per output. Execution is topological: forward runs the nodes in order
// (inference frees each intermediate tensor once its last consumer ran), backward runs them in
// reverse, each node getting the sum of its consumers' gradients. Training runs the same loop as
// Sequential (lib/training/engine.ts).
import { describe } from '../backend';
import type { Callback, CallbackHooks, Logs } from '../callbacks';
import { tidy } from '../engine';
import { Layer, SymbolicTensor, type GraphNode, type LayerShape } from '../layers/base';
import { resolveLoss, type LossArg, type LossSpec } from '../losses';
import { resolveMetric, type MetricArg } from '../metrics';
import { checkOptions, closestKey } from '../options';
import { resolveOptimizer, type Optimizer } from '../optimizers';
import { Rng, globalRng } from '../random';
import { Tensor } from '../tensor';
import { batchSlice, classWeightsOf, cutSamples, hostData, sampleWeightsOf, type Data, type HostData, type SampleWeights } from '../training/data';
import { datasetElement, evaluateDatasetOptions, evaluateElements, type FitDatasetArgs } from '../training/arguments';
import { History, fail, loopOptions, positiveInteger, trainLoop, type BatchSource } from '../training/engine';
import { Graph } from '../training/graph';
import { predictBatches, runNow, runYielding } from '../training/predict';
import { fusedDense, lossConfig, type OutputLoss } from '../training/loss';
import { LayersModel, ownOutputs } from './base';

/** Data for a model's inputs (or outputs): one Data for one, an array in order, or an object keyed by name. */
export type ModelData = Data | Data[] | Record<string, Data>;

/** A per-output setting: one for every output, an array in output order, or an object keyed by output name. */
export type PerOutput<T> = T | T[] | Record<string, T>;

export interface ModelCompileArgs {
  optimizer: Optimizer | 'sgd' | 'adam' | 'adamw' | 'rmsprop';
  loss: PerOutput<LossArg>;
  /** Metrics for every output, or per output (array or object keyed by output name). */
  metrics?: MetricArg[] | MetricArg[][] | Record<string, MetricArg[]>;
  /** The total loss is Σ lossWeights[o]·loss[o] (default 1 each). */
  lossWeights?: number[] | Record<string, number>;
}

export interface ModelFitArgs {
  epochs?: number;
  batchSize?: number;
  shuffle?: boolean;
  validationSplit?: number;
  validationData?: [ModelData, ModelData] | [ModelData, ModelData, SampleWeights];
  validationBatchSize?: number;
  /** One loss weight per sample, applied to every output's loss. */
  sampleWeight?: SampleWeights;
  /** Loss weight per class index; single-output models only (as Keras). */
  classWeight?: Record<number, number>;
  callbacks?: Array<Callback | CallbackHooks>;
  verbose?: 0 | 1 | 2;
  initialEpoch?: number;
  signal?: AbortSignal;
  /** A modelCheckpoint directory to continue from (as Sequential's fit). */
  resumeFrom?: string;
}

const MODEL_FIT_KEYS = ['epochs', 'batchSize', 'shuffle', 'validationSplit', 'validationData', 'validationBatchSize', 'sampleWeight', 'classWeight', 'callbacks', 'verbose', 'initialEpoch', 'signal', 'resumeFrom'];
const MODEL_FIT_REFUSED: Record<string, string> = {
  stepsPerEpoch: "use fitDataset(dataset, {batchesPerEpoch})",
  validationSteps: 'use fitDataset with a validation dataset',
  validationFreq: 'validation runs after every epoch, so that every History series has one value per epoch',
};

/** A batch on the host: one entry per model input and output. */
interface HostBatch {
  xs: HostData[];
  ys: HostData[];
  weights: Float32Array | null;
}

/** input(): a model input, a symbolic tensor of `shape` (without the batch dimension). */
export function input(args: { shape: LayerShape; dtype?: 'float32' | 'int32'; name?: string }): SymbolicTensor {
  if (typeof args !== 'object' || args === null) fail(`input: argument must be {shape, dtype?, name?}, got ${describe(args)}`);
  checkOptions('input', args, ['shape', 'dtype', 'name'], { refused: { batchSize: 'the batch dimension is always free', sparse: 'sparse inputs are not implemented', tensor: 'inputs are symbolic; pass data to fit/predict' } });
  const { shape, dtype, name } = args;
  if (!Array.isArray(shape) || !shape.length || !shape.every((d) => d === null || (Number.isInteger(d) && (d as number) > 0))) fail(`input: 'shape' must be a non-empty array of positive integers (or null for a variable length), without the batch dimension, got ${describe(shape)}`);
  if (dtype !== undefined && dtype !== 'float32' && dtype !== 'int32') fail(`input: 'dtype' must be 'float32' or 'int32', got ${describe(dtype)}`);
  if (name !== undefined && (typeof name !== 'string' || !name)) fail(`input: 'name' must be a non-empty string, got ${describe(name)}`);
  return new SymbolicTensor([...shape], dtype ?? 'float32', null, 0, name ?? `input_${inputCount++}`);
}
let inputCount = 1;

function symbolicList(fn: string, what: string, v: unknown): SymbolicTensor[] {
  const list = Array.isArray(v) ? v : [v];
  if (!list.length) fail(`${fn}: '${what}' must be a symbolic tensor or a non-empty array of them, got an empty array`);
  list.forEach((t, i) => {
    if (!(t instanceof SymbolicTensor)) fail(`${fn}: '${what}'${Array.isArray(v) ? `[${i}]` : ''} must be a symbolic tensor (from input() or layer.apply()), got ${describe(t)}`);
  });
  return list as SymbolicTensor[];
}

const isDataLike = (v: unknown) => v instanceof Tensor || Array.isArray(v) || (typeof v === 'object' && v !== null && 'data' in v && 'shape' in v);

/** A per-name value (array in order, object keyed by name, or one for all when `shared`) as an array. */
function perName<T>(fn: string, what: string, value: unknown, names: string[], isOne: (v: unknown) => boolean): T[] {
  if (names.length === 1 && isOne(value)) return [value as T];
  if (Array.isArray(value)) {
    if (value.length !== names.length) fail(`${fn}: '${what}' must have ${names.length} entries (${names.join(', ')}), got ${value.length}`);
    return value as T[];
  }
  if (typeof value === 'object' && value !== null && !isOne(value)) {
    const record = value as Record<string, T>;
    for (const key of Object.keys(record)) {
      if (!names.includes(key)) {
        const near = closestKey(key, names);
        fail(`${fn}: '${what}' has no entry '${key}'${near ? ` (did you mean '${near}'?)` : ''}; names: ${names.join(', ')}`);
      }
    }
    const missing = names.filter((n) => !(n in record));
    if (missing.length) fail(`${fn}: '${what}' misses ${missing.map((m) => `'${m}'`).join(', ')}`);
    return names.map((n) => record[n]!);
  }
  fail(`${fn}: '${what}' must be ${names.length === 1 ? 'one value, ' : ''}an array of ${names.length} (${names.join(', ')}) or an object keyed by those names, got ${describe(value)}`);
}

export class Model extends LayersModel {
  readonly name: string;
  readonly inputs: SymbolicTensor[];
  readonly outputs: SymbolicTensor[];
  /** The layer calls in topological order. */
  readonly nodes: GraphNode[];
  /** Every layer once, in order of its first call. */
  readonly layers: Layer[];
  readonly inputNames: string[];
  /** The producing layer's name (with :i for a layer's i-th output when it has several). */
  readonly outputNames: string[];
  /** Runs the calls (lib/training/graph.ts). */
  private readonly graph: Graph;
  private inputDTypes: Array<'float32' | 'int32'>;

  constructor(args: { inputs: SymbolicTensor | SymbolicTensor[]; outputs: SymbolicTensor | SymbolicTensor[]; name?: string }) {
    super();
    if (typeof args !== 'object' || args === null) fail(`model: argument must be {inputs, outputs, name?}, got ${describe(args)}`);
    checkOptions('model', args, ['inputs', 'outputs', 'name']);
    if (args.name !== undefined && (typeof args.name !== 'string' || !args.name)) fail(`model: 'name' must be a non-empty string, got ${describe(args.name)}`);
    this.name = args.name ?? 'model';
    this.inputs = symbolicList('model', 'inputs', args.inputs);
    this.outputs = symbolicList('model', 'outputs', args.outputs);
    this.inputs.forEach((t, i) => {
      if (t.node) fail(`model: inputs[${i}] (${t.name}) is a layer's output, not a model input from input()`);
    });
    this.outputs.forEach((t, i) => {
      if (!t.node) fail(`model: outputs[${i}] (${t.name}) is a model input; outputs must come from layer calls`);
    });
    this.graph = new Graph('model', this.inputs, this.outputs);
    this.nodes = this.graph.nodes;
    this.layers = [...new Set(this.nodes.map((n) => n.layer))];
    this.inputNames = this.inputs.map((t) => t.name);
    if (new Set(this.inputNames).size !== this.inputNames.length) fail(`model: input names must be unique, got ${this.inputNames.join(', ')}`);
    this.outputNames = this.outputs.map((t) => (t.node!.outputs.length > 1 ? `${t.node!.layer.name}:${t.outputIndex}` : t.node!.layer.name));
    if (new Set(this.outputNames).size !== this.outputNames.length) fail(`model: every output must come from a different layer call, got ${this.outputNames.join(', ')}`);
    // Token indices: an input read by an embedding is int32 unless declared otherwise.
    this.inputDTypes = this.inputs.map((t) => (this.nodes.some((n) => n.inputs[0] === t && n.layer.inputDType === 'int32') ? 'int32' : t.dtype));
  }

  /**
   * Uses this model as a layer of another graph: its calls are replayed on `inputs` (one per
   * model input) with the same layers, so the weights are shared and the outer graph holds the
   * inner layers directly (its summary lists them; saving stores them).
   */
  apply(inputs: SymbolicTensor | SymbolicTensor[]): SymbolicTensor | SymbolicTensor[] {
    this.assertLive('apply');
    const given = symbolicList(`${this.name}.apply`, 'inputs', inputs);
    if (given.length !== this.inputs.length) fail(`${this.name}.apply: takes ${this.inputs.length} inputs (${this.inputNames.join(', ')}), got ${given.length}`);
    const mapped = new Map<number, SymbolicTensor>(this.inputs.map((t, i) => [t.id, given[i]!]));
    for (const node of this.nodes) {
      const out = node.layer.apply(node.inputs.map((t) => mapped.get(t.id)!));
      (Array.isArray(out) ? out : [out]).forEach((t, i) => mapped.set(node.outputs[i]!.id, t));
    }
    const outs = this.outputs.map((o) => mapped.get(o.id)!);
    return outs.length === 1 ? outs[0]! : outs;
  }

  /** Always true: layers are built as they are applied. */
  get built(): boolean {
    return true;
  }

  /** The dtype data for input i is converted to (int32 when an embedding reads it). */
  inputDType(i: number): 'float32' | 'int32' {
    return this.inputDTypes[i]!;
  }

  /** The compiled losses, metrics, lossWeights and optimizer config (JSON-ready), or null before compile(). */
  get trainingConfig(): { loss: Array<{ name: string; fromLogits: boolean; delta?: number }>; metrics: string[][]; lossWeights: number[]; optimizer: Record<string, unknown> } | null {
    if (!this.optimizer || !this.outputLosses) return null;
    return {
      loss: this.outputLosses.map((o) => lossConfig(o.spec)),
      metrics: this.outputLosses.map((o) => o.metrics.map((m) => m.name)),
      lossWeights: [...this.lossWeights],
      optimizer: this.optimizer.getConfig(),
    };
  }

  /** A Keras-like table: layer, output shape, parameters and the tensors each call consumes (printed unless print is false). */
  summary(print: (line: string) => void = console.log): string {
    this.assertLive('summary');
    if (typeof print !== 'function') fail(`summary: argument 'print' must be a function, got ${describe(print)}`);
    const shape = (s: LayerShape) => `(None, ${s.map((d) => (d === null ? 'None' : String(d))).join(', ')})`;
    const rows: string[][] = this.inputs.map((t) => [`${t.name} (InputLayer)`, shape(t.shape), '0', '']);
    for (const l of this.layers) {
      const calls = this.nodes.filter((n) => n.layer === l);
      rows.push([`${l.name} (${l.className})`, calls[0]!.outputs.map((o) => shape(o.shape)).join(' '), String(l.countParams()), calls.map((n) => n.inputs.map((t) => t.name).join(', ')).join(' | ')]);
    }
    const heads = ['Layer (type)', 'Output Shape', 'Param #', 'Connected to'];
    const w = heads.map((h, i) => Math.max(h.length + 2, ...rows.map((r) => r[i]!.length + 2)));
    return this.summaryTable(print, heads, rows, w);
  }

  compile(args: ModelCompileArgs): void {
    this.assertLive('compile');
    if (typeof args !== 'object' || args === null) fail(`compile: argument must be {optimizer, loss, metrics?, lossWeights?}, got ${describe(args)}`);
    checkOptions('compile', args, ['optimizer', 'loss', 'metrics', 'lossWeights'], {
      refused: { weightedMetrics: 'metrics are unweighted; sampleWeight and classWeight weight the loss only', runEagerly: 'there is no graph mode: every step runs eagerly on native kernels', jitCompile: 'there is no graph compiler: every step runs on native kernels' },
    });
    const names = this.outputNames;
    const isLoss = (v: unknown) => typeof v === 'string' || typeof v === 'function' || (typeof v === 'object' && v !== null && 'name' in v && typeof (v as LossSpec).name === 'string');
    // One loss (a name or a spec) applies to every output, as in Keras.
    const losses = (isLoss(args.loss) ? names.map(() => args.loss) : perName<unknown>('compile', 'loss', args.loss, names, isLoss)).map((l) => resolveLoss(l));
    const sharedMetrics = args.metrics === undefined || (Array.isArray(args.metrics) && args.metrics.every((m) => !Array.isArray(m)));
    const metricLists = sharedMetrics ? names.map(() => (args.metrics ?? []) as MetricArg[]) : perName<MetricArg[]>('compile', 'metrics', args.metrics, names, () => false);
    metricLists.forEach((m, i) => {
      if (!Array.isArray(m)) fail(`compile: 'metrics' for output ${names[i]} must be an array of names, got ${describe(m)}`);
    });
    const weights = args.lossWeights === undefined ? names.map(() => 1) : perName<number>('compile', 'lossWeights', args.lossWeights, names, () => false);
    weights.forEach((w, i) => {
      if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) fail(`compile: lossWeights for output ${names[i]} must be a non-negative number, got ${describe(w)}`);
    });
    const optimizer = resolveOptimizer(args.optimizer);
    this.optimizer?.dispose();
    this.optimizer = optimizer;
    this.lossWeights = weights;
    this.outputLosses = this.outputs.map((o, i) => {
      const layer = o.node!.layer;
      // A dense layer called once, as the model's output: the loss may take its logits.
      const once = this.nodes.filter((n) => n.layer === layer).length === 1 && o.node!.outputs.length === 1;
      return { spec: losses[i]!, metrics: metricLists[i]!.map((m) => resolveMetric(m, losses[i]!)), fused: once ? fusedDense(layer, losses[i]!) : null };
    });
  }

  private compiled(fn: string): OutputLoss[] {
    if (!this.outputLosses || !this.optimizer) fail(`${fn}: call compile({optimizer, loss}) before ${fn}()`);
    return this.outputLosses;
  }

  // ---------------------------------------------------------------- data

  private targetDType(i: number): 'float32' | 'int32' {
    return this.outputLosses?.[i]?.spec.name === 'sparseCategoricalCrossentropy' ? 'int32' : 'float32';
  }

  /** x (and y) on the host, one entry per input (output), checked against the graph. */
  private hostInputs(fn: string, x: unknown, what = 'x'): HostData[] {
    return this.inputsOf(fn, x, what, hostData);
  }

  /** The model's inputs in `x` (one per input name), read by `read` and checked against the inputs' shapes. */
  private inputsOf<T extends { shape: number[] }>(fn: string, x: unknown, what: string, read: (v: Data, label: string, dtype: 'float32' | 'int32') => T): T[] {
    const xs = perName<Data>(fn, what, x, this.inputNames, isDataLike);
    const hs = xs.map((v, i) => read(v, `${fn}: ${what}${this.inputs.length > 1 ? ` (${this.inputNames[i]})` : ''}`, this.inputDTypes[i]!));
    hs.forEach((h, i) => {
      const want = this.inputs[i]!.shape;
      const got = h.shape.slice(1);
      if (got.length !== want.length || want.some((d, k) => d !== null && d !== got[k])) fail(`${fn}: ${what}${this.inputs.length > 1 ? ` (${this.inputNames[i]})` : ''} must have shape [samples, ${want.map((d) => d ?? 'any').join(', ')}], got [${h.shape}]`);
      if (h.shape[0] !== hs[0]!.shape[0]) fail(`${fn}: ${what} inputs have different sample counts: ${hs[0]!.shape[0]} and ${h.shape[0]}`);
    });
    return hs;
  }

  private hostTargets(fn: string, y: unknown, samples: number, what = 'y'): HostData[] {
    const ys = perName<Data>(fn, what, y, this.outputNames, isDataLike);
    return ys.map((v, i) => {
      const label = `${fn}: ${what}${this.outputs.length > 1 ? ` (${this.outputNames[i]})` : ''}`;
      const h = hostData(v, label, this.targetDType(i));
      if (h.shape[0] !== samples) fail(`${label} has ${h.shape[0]} samples, the inputs ${samples}`);
      const out = this.outputs[i]!.shape;
      if (this.targetDType(i) === 'int32') {
        const classes = out[out.length - 1] as number;
        const perRow = out.slice(0, -1);
        if (perRow.every((d) => d !== null) && h.perSample !== perRow.reduce((a: number, b) => a * (b as number), 1)) fail(`${label} must hold one class index per output row (shape [samples${perRow.length ? `, ${perRow.join(', ')}` : ''}]) for sparseCategoricalCrossentropy, got shape [${h.shape}]`);
        const bad = h.data.findIndex((c) => c < 0 || c >= classes);
        if (bad >= 0) fail(`${label} has class index ${h.data[bad]} at sample ${Math.floor(bad / h.perSample)}; the output has ${classes} classes`);
      } else if (out.every((d) => d !== null) && h.perSample !== out.reduce((a: number, b) => a * (b as number), 1)) {
        fail(`${label} must have shape [samples, ${out.join(', ')}] to match the output, got [${h.shape}]`);
      }
      return h;
    });
  }

  private hostBatch(fn: string, x: unknown, y: unknown, sampleWeight: unknown, classWeight: unknown, names: [string, string] = ['x', 'y']): HostBatch {
    this.compiled(fn);
    const xs = this.hostInputs(fn, x, names[0]);
    const ys = this.hostTargets(fn, y, xs[0]!.shape[0]!, names[1]);
    return { xs, ys, weights: this.sampleLossWeights(fn, sampleWeight, classWeight, ys) };
  }

  /** Per-sample loss weights from sampleWeight or classWeight (at most one), or null. */
  private sampleLossWeights(fn: string, sampleWeight: unknown, classWeight: unknown, ys: HostData[]): Float32Array | null {
    if (sampleWeight !== undefined && classWeight !== undefined) fail(`${fn}: give sampleWeight or classWeight, not both (as Keras); fold the class weights into sampleWeight`);
    if (sampleWeight !== undefined) return sampleWeightsOf(fn, sampleWeight, ys[0]!.shape[0]!);
    if (classWeight === undefined) return null;
    if (this.outputs.length !== 1) fail(`${fn}: classWeight needs a single-output model (as Keras); pass sampleWeight instead`);
    return classWeightsOf(fn, classWeight, ys[0]!, this.outputs[0]!.shape, this.targetDType(0) === 'int32');
  }

  private batchTensors(b: HostBatch, order: Int32Array | null, start: number, end: number): { xs: Tensor[]; ys: Tensor[]; weights: Float32Array | null } {
    return { xs: b.xs.map((h) => this.batchTensor(h, order, start, end)), ys: b.ys.map((h) => this.batchTensor(h, order, start, end)), weights: b.weights && batchSlice(b.weights, 1, order, start, end) };
  }

  // ---------------------------------------------------------------- graph execution

  /** Raw per-output [loss, ...metrics] of one host batch slice, inference mode. */
  private batchValues(b: HostBatch, start: number, end: number): Float32Array {
    return tidy(() => {
      const t = this.batchTensors(b, null, start, end);
      return this.evaluateValues(t.xs, t.ys, t.weights).dataSync() as Float32Array;
    });
  }

  protected trainingGraph(): Graph {
    return this.graph;
  }

  private evaluateHost(b: HostBatch, batchSize: number): Logs {
    return this.evaluateBatches(b.xs[0]!.shape[0]!, batchSize, (start, end) => {
      const t = this.batchTensors(b, null, start, end);
      return this.evaluateValues(t.xs, t.ys, t.weights);
    });
  }

  // ---------------------------------------------------------------- public training API

  /** Loss and gradients (host copies, parameter order) of one batch, without updating: for tests and tools. */
  computeGradients(x: ModelData, y: ModelData): { loss: number; grads: Float32Array[] } {
    this.assertLive('computeGradients');
    const b = this.hostBatch('computeGradients', x, y, undefined, undefined);
    return tidy(() => {
      const t = this.batchTensors(b, null, 0, b.xs[0]!.shape[0]!);
      let grads: Float32Array[] = [];
      const values = this.stepValues(t.xs, t.ys, null, new Rng(globalRng.nextStreamSeed()), false, (params) => {
        grads = params.map((p) => (p.grad ? (p.grad.dataSync() as Float32Array) : new Float32Array(p.value.size)));
      });
      return { loss: this.toLogs(values.dataSync())[0]!, grads };
    });
  }

  /** One update on one batch; returns the loss, or [loss, ...] with several logs. */
  trainOnBatch(x: ModelData, y: ModelData, options: { sampleWeight?: SampleWeights; classWeight?: Record<number, number> } = {}): number | number[] {
    this.assertLive('trainOnBatch');
    checkOptions('trainOnBatch', options, ['sampleWeight', 'classWeight']);
    this.compiled('trainOnBatch');
    // Inputs as predict takes them: a float32 tensor on the model's device is its batch itself.
    const xs = this.inputsOf('trainOnBatch', x, 'x', (v, label, dtype) => this.predictInput(label, v, dtype));
    const n = xs[0]!.shape[0]!;
    const ys = this.hostTargets('trainOnBatch', y, n);
    const weights = this.sampleLossWeights('trainOnBatch', options.sampleWeight, options.classWeight, ys);
    const vals = tidy(() => {
      const batch = xs.map((input) => input.batch(0, n));
      const targets = ys.map((h) => this.batchTensor(h, null, 0, n));
      return this.toLogs(this.stepValues(batch, targets, weights, new Rng(globalRng.nextStreamSeed())).dataSync());
    });
    return vals.length === 1 ? vals[0]! : vals;
  }

  async fit(x: ModelData, y: ModelData, args: ModelFitArgs = {}): Promise<History> {
    this.assertLive('fit');
    this.compiled('fit');
    checkOptions('fit', args, MODEL_FIT_KEYS, { refused: MODEL_FIT_REFUSED });
    const loop = loopOptions('fit', args);
    const batchSize = positiveInteger('fit', 'batchSize', args.batchSize, 32);
    const validationBatchSize = positiveInteger('fit', 'validationBatchSize', args.validationBatchSize, batchSize);
    if (args.shuffle !== undefined && typeof args.shuffle !== 'boolean') fail(`fit: 'shuffle' must be true or false, got ${describe(args.shuffle)}`);
    const split = args.validationSplit ?? 0;
    if (typeof split !== 'number' || !(split >= 0 && split < 1)) fail(`fit: 'validationSplit' must be in [0, 1), got ${describe(args.validationSplit)}`);
    let train = this.hostBatch('fit', x, y, args.sampleWeight, args.classWeight);
    let val: HostBatch | null = null;
    if (args.validationData !== undefined) {
      if (!Array.isArray(args.validationData) || args.validationData.length < 2 || args.validationData.length > 3) fail(`fit: 'validationData' must be [x, y] or [x, y, sampleWeight], got ${describe(args.validationData)}`);
      const [vx, vy, vw] = args.validationData;
      val = this.hostBatch('fit', vx, vy, vw, undefined, ['validationData x', 'validationData y']);
    } else if (split > 0) {
      const n = train.xs[0]!.shape[0]!;
      const nTrain = Math.floor(n * (1 - split));
      if (nTrain < 1 || nTrain >= n) fail(`fit: validationSplit ${split} leaves no training or no validation samples out of ${n}`);
      const part = (from: number, to: number, weights: Float32Array | null): HostBatch => ({ xs: train.xs.map((h) => cutSamples(h, from, to)), ys: train.ys.map((h) => cutSamples(h, from, to)), weights });
      // As Keras: the last part of sampleWeight weights the validation loss; classWeight is for training only.
      val = part(nTrain, n, args.sampleWeight !== undefined && train.weights ? train.weights.slice(nTrain) : null);
      train = part(0, nTrain, train.weights?.slice(0, nTrain) ?? null);
    }
    this.checkStatefulBatches('fit', train.xs[0]!.shape[0]!, batchSize, val && { samples: val.xs[0]!.shape[0]!, batchSize: validationBatchSize });
    // After the data checks: weights, optimizer and RNG state, next epoch.
    const initialEpoch = this.resumeEpoch('fit', args.resumeFrom, loop.initialEpoch);
    const rng = this.startTrainingRng();
    const samples = train.xs[0]!.shape[0]!;
    const steps = Math.ceil(samples / batchSize);
    const self = this;
    return trainLoop({
      model: this, callbackModel: this, ...loop, initialEpoch,
      params: { epochs: loop.epochs, steps, samples, batchSize, verbose: loop.verbose, metrics: this.logNames() },
      *epochBatches() {
        const order = args.shuffle === false ? null : rng.permutation(samples);
        for (let start = 0; start < samples; start += batchSize) {
          const end = Math.min(samples, start + batchSize);
          yield { size: end - start, step: () => self.trainStepTensor(() => self.batchTensors(train, order, start, end), rng) };
        }
      },
      toLogs: (v) => this.toLogs(v),
      validate: val ? () => this.evaluateHost(val!, validationBatchSize) : null,
    });
  }

  /** A step as the loop wants it: the batch made and trained inside one scope; the raw values survive. */
  private trainStepTensor(batch: () => { xs: Tensor[]; ys: Tensor[]; weights: Float32Array | null }, rng: Rng): Tensor {
    return tidy(() => {
      const t = batch();
      return this.stepValues(t.xs, t.ys, t.weights, rng);
    });
  }

  /** A dataset element {xs, ys, sampleWeight?} on the host, checked. */
  private datasetBatch(fn: string, element: unknown, index: number): HostBatch {
    const e = datasetElement(fn, element, index);
    return this.hostBatch(fn, e.xs, e.ys, e.sampleWeight, undefined, [`dataset element ${index} xs`, `dataset element ${index} ys`]);
  }

  /** Trains on a dataset of {xs, ys, sampleWeight?} batches (docs/models.md, Datasets). */
  async fitDataset(dataset: BatchSource, args: FitDatasetArgs<[ModelData, ModelData] | [ModelData, ModelData, SampleWeights]> = {}): Promise<History> {
    this.assertLive('fitDataset');
    this.compiled('fitDataset');
    return this.runFitDataset(dataset, args, {
      validateArrays: (x, y, w) => {
        const v = this.hostBatch('fitDataset', x, y, w, undefined, ['validationData x', 'validationData y']);
        return () => this.evaluateHost(v, 32);
      },
      evaluateSource: (source) => this.evaluateSource('fitDataset', source, null),
      step: (element, i, rng) => {
        const b = this.datasetBatch('fitDataset', element, i);
        const n = b.xs[0]!.shape[0]!;
        return { size: n, step: () => this.trainStepTensor(() => this.batchTensors(b, null, 0, n), rng) };
      },
      logNames: this.logNames(),
      toLogs: (v) => this.toLogs(v),
    });
  }

  private evaluateSource(fn: string, dataset: BatchSource, limit: number | null): Promise<Logs> {
    return evaluateElements(fn, dataset, limit, this.logNames(), (element, i) => {
      const b = this.datasetBatch(fn, element, i);
      return { size: b.xs[0]!.shape[0]!, values: this.batchValues(b, 0, b.xs[0]!.shape[0]!) };
    }, (v) => this.toLogs(v));
  }

  async evaluateDataset(dataset: BatchSource, args: { batches?: number } = {}): Promise<Logs> {
    this.assertLive('evaluateDataset');
    this.compiled('evaluateDataset');
    return this.evaluateSource('evaluateDataset', dataset, evaluateDatasetOptions(dataset, args));
  }

  /** Loss and metrics over (x, y), batched. */
  evaluate(x: ModelData, y: ModelData, args: { batchSize?: number; sampleWeight?: SampleWeights } = {}): Logs {
    this.assertLive('evaluate');
    checkOptions('evaluate', args, ['batchSize', 'sampleWeight'], { refused: { steps: 'use evaluateDataset(dataset, {batches})' } });
    const batchSize = positiveInteger('evaluate', 'batchSize', args.batchSize, 32);
    const data = this.hostBatch('evaluate', x, y, args.sampleWeight, undefined);
    this.checkStatefulBatches('evaluate', data.xs[0]!.shape[0]!, batchSize);
    return this.evaluateHost(data, batchSize);
  }

  /** Outputs for x, in batches: one tensor [samples, ...] per output (a tensor for one output, an array for several). */
  predict(x: ModelData, args: { batchSize?: number } = {}): Tensor | Tensor[] {
    return runNow(this.predictSteps('predict', x, args));
  }

  /** predict that lets the event loop run between batches; resolves with the same tensor(s). */
  predictAsync(x: ModelData, args: { batchSize?: number } = {}): Promise<Tensor | Tensor[]> {
    return runYielding(this.predictSteps('predictAsync', x, args));
  }

  private *predictSteps(fn: string, x: ModelData, args: { batchSize?: number }): Generator<void, Tensor | Tensor[]> {
    this.assertLive(fn);
    checkOptions(fn, args, ['batchSize'], { refused: { steps: 'predict takes whole arrays' } });
    const batchSize = positiveInteger(fn, 'batchSize', args.batchSize, 32);
    const xs = this.inputsOf(fn, x, 'x', (v, label, dtype) => this.predictInput(label, v, dtype));
    this.checkStatefulBatches(fn, xs[0]!.shape[0]!, batchSize);
    const outs = yield* predictBatches(xs[0]!.shape[0]!, batchSize, (start, end) => {
      this.assertLive(fn); // predictAsync: disposed between batches
      const batch = xs.map((input) => input.batch(start, end));
      return ownOutputs(this.graph.forward(batch, false, globalRng, null, this.hostOf).outputs, batch);
    });
    return outs.length === 1 ? outs[0]! : outs;
  }
}

/** tfjs' tf.model({inputs, outputs, name?}). */
export function model(args: { inputs: SymbolicTensor | SymbolicTensor[]; outputs: SymbolicTensor | SymbolicTensor[]; name?: string }): Model {
  return new Model(args);
}
