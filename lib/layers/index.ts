// Layers for sequential models. Each layer's forward(x, ctx) keeps what its backward needs;
// backward(dy) returns dx and sets the gradients of its parameters. Parameters are kept tensors
// (they survive tidy scopes) owned by the layer; dispose() frees them.
import { describe } from '../backend';
import { dispose, keep } from '../engine';
import * as ops from '../ops';
import { gru as gruOp, gruParamShapes, type GruResult } from '../ops/gru';
import { checkOptions } from '../options';
import { globalRng, random, randomNormal, type Rng } from '../random';
import { Tensor, shapeSize, tensor } from '../tensor';

/** Shape without the batch dimension; null for an unknown (variable) length. */
export type LayerShape = Array<number | null>;

export interface Param {
  name: string;
  value: Tensor;
  /** Set by backward() (a tensor of the training step's scope). */
  grad: Tensor | null;
  trainable: boolean;
}

/** What flows between layers besides the tensor: per-sample valid lengths of right-padded sequences. */
export interface CallContext {
  training: boolean;
  lengths: Int32Array | null;
  /** Where dropout seeds come from: the running fit's stream (lib/random.ts). */
  rng: Rng;
  /**
   * A host copy of a tensor's data, when the caller has one (the model's batches come from host
   * arrays): layers that inspect values on the host (masking, embedding's maskZero) use it instead
   * of reading the tensor back, which on a GPU would be a device-to-host copy every step.
   */
  host?: { tensor: Tensor; data: Float32Array | Int32Array } | null;
}

/** x's data on the host: the context's copy when it is x's, otherwise a read of x. */
function hostValues(x: Tensor, ctx: CallContext): Float32Array | Int32Array {
  return ctx.host && ctx.host.tensor === x ? ctx.host.data : (x.dataSync() as Float32Array | Int32Array);
}

export type InitializerName = 'glorotUniform' | 'glorotNormal' | 'heUniform' | 'heNormal' | 'orthogonal' | 'zeros' | 'ones' | 'randomUniform' | 'randomNormal' | 'pytorch';
const INITIALIZERS: InitializerName[] = ['glorotUniform', 'glorotNormal', 'heUniform', 'heNormal', 'orthogonal', 'zeros', 'ones', 'randomUniform', 'randomNormal', 'pytorch'];

export interface LayerArgs {
  name?: string;
  /** Input shape without the batch dimension (first layer only), e.g. [timesteps | null, features]. */
  inputShape?: LayerShape;
  trainable?: boolean;
}

const nameCounts = new Map<string, number>();
function uniqueName(base: string): string {
  const n = nameCounts.get(base) ?? 0;
  nameCounts.set(base, n + 1);
  return n === 0 ? base : `${base}_${n}`;
}

function fail(layer: string, message: string): never {
  throw new TypeError(`${layer}: ${message}`);
}

function positiveInt(layer: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(layer, `'${name}' must be a positive integer, got ${describe(v)}`);
  return v;
}

function rate(layer: string, name: string, v: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) fail(layer, `'${name}' must be a number in [0, 1), got ${describe(v)}`);
  return v;
}

function flag(layer: string, name: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') fail(layer, `'${name}' must be true or false, got ${describe(v)}`);
  return v;
}

function initializerName(layer: string, name: string, v: unknown, fallback: InitializerName): InitializerName {
  if (v === undefined) return fallback;
  if (!INITIALIZERS.includes(v as InitializerName)) fail(layer, `'${name}' must be one of ${INITIALIZERS.join(', ')}, got ${describe(v)}`);
  return v as InitializerName;
}

/** Keras options this library does not implement, each refused with the same reason. */
function unsupported(keys: string[], reason: string): Record<string, string> {
  return Object.fromEntries(keys.map((k) => [k, reason]));
}
const NO_REGULARIZERS = 'regularizers are not implemented (add a penalty to the data or use adamw({weightDecay}))';
const NO_CONSTRAINTS = 'weight constraints are not implemented';

/** The options every layer takes, and how a layer declares its own (checked in the Layer constructor). */
const LAYER_KEYS = ['name', 'inputShape', 'trainable'];
interface LayerOptionSpec {
  /** The factory's name, used in error messages ('dense'). */
  fn: string;
  keys: string[];
  refused?: Record<string, string>;
}

// ------------------------------------------------------------------ initializers

/** Values for a weight of `shape` whose fan-in/fan-out are given (Keras conventions). */
export function initialValues(init: InitializerName, shape: number[], fanIn: number, fanOut: number, pytorchBound?: number): Float32Array {
  const n = shapeSize(shape);
  const out = new Float32Array(n);
  const uniform = (limit: number) => {
    for (let i = 0; i < n; i++) out[i] = (random() * 2 - 1) * limit;
  };
  // Keras' normal initializers use a truncated normal (±2σ).
  const truncated = (std: number) => {
    for (let i = 0; i < n; i++) {
      let v: number;
      do v = randomNormal(); while (Math.abs(v) > 2);
      out[i] = v * std;
    }
  };
  switch (init) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'glorotUniform':
      uniform(Math.sqrt(6 / (fanIn + fanOut)));
      break;
    case 'glorotNormal':
      truncated(Math.sqrt(2 / (fanIn + fanOut)) / 0.87962566103423978);
      break;
    case 'heUniform':
      uniform(Math.sqrt(6 / fanIn));
      break;
    case 'heNormal':
      truncated(Math.sqrt(2 / fanIn) / 0.87962566103423978);
      break;
    case 'randomUniform':
      uniform(0.05);
      break;
    case 'randomNormal':
      for (let i = 0; i < n; i++) out[i] = randomNormal() * 0.05;
      break;
    case 'pytorch':
      uniform(pytorchBound ?? 1 / Math.sqrt(fanIn));
      break;
    case 'orthogonal':
      out.set(orthogonal(shape[0]!, n / shape[0]!));
      break;
    default:
      throw new TypeError(`unknown initializer ${describe(init)}; use one of ${INITIALIZERS.join(', ')}`);
  }
  return out;
}

/** A rows×cols matrix with orthonormal rows or columns (QR of a Gaussian matrix, signs fixed). */
function orthogonal(rows: number, cols: number): Float64Array {
  const tall = rows >= cols;
  const r = tall ? rows : cols;
  const c = tall ? cols : rows;
  // Gram-Schmidt on c columns of length r.
  const q: Float64Array[] = [];
  for (let j = 0; j < c; j++) {
    const v = Float64Array.from({ length: r }, () => randomNormal());
    for (let pass = 0; pass < 2; pass++) {
      for (const u of q) {
        let d = 0;
        for (let i = 0; i < r; i++) d += u[i]! * v[i]!;
        for (let i = 0; i < r; i++) v[i] -= d * u[i]!;
      }
    }
    let norm = 0;
    for (let i = 0; i < r; i++) norm += v[i]! * v[i]!;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < r; i++) v[i] /= norm;
    q.push(v);
  }
  const out = new Float64Array(rows * cols);
  for (let j = 0; j < c; j++) for (let i = 0; i < r; i++) {
    if (tall) out[i * cols + j] = q[j]![i]!;
    else out[j * cols + i] = q[j]![i]!;
  }
  return out;
}

// ------------------------------------------------------------------ base class

export abstract class Layer {
  readonly name: string;
  readonly trainable: boolean;
  inputShape: LayerShape | null = null;
  outputShape: LayerShape | null = null;
  protected paramList: Param[] = [];
  built = false;
  /** Set by dispose(): the parameters are gone and the layer cannot be used again. */
  disposed = false;

  constructor(readonly className: string, args: LayerArgs | undefined, options: LayerOptionSpec) {
    const { fn } = options;
    checkOptions(fn, args, [...LAYER_KEYS, ...options.keys], { optional: false, refused: options.refused });
    const a = args as LayerArgs;
    if (a.name !== undefined && (typeof a.name !== 'string' || !a.name)) fail(fn, `'name' must be a non-empty string, got ${describe(a.name)}`);
    this.name = a.name ?? uniqueName(className.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase());
    this.trainable = flag(fn, 'trainable', a.trainable, true);
    if (a.inputShape !== undefined) {
      if (!Array.isArray(a.inputShape) || !a.inputShape.every((d) => d === null || (Number.isInteger(d) && d > 0))) {
        fail(fn, `'inputShape' must be an array of positive integers (or null for a variable length), got ${describe(a.inputShape)}`);
      }
      this.inputShape = [...a.inputShape];
    }
  }

  /** Throws when the layer was disposed (its parameters are freed; rebuilding would re-initialise them silently). */
  protected assertLive(fn: string): void {
    if (this.disposed) throw new Error(`${this.name}: this layer was disposed (${fn} called after dispose()); create a new layer`);
  }

  /** Creates the parameters for `inputShape` (no batch dimension); returns the output shape. */
  build(inputShape: LayerShape): LayerShape {
    this.assertLive('build');
    if (!this.built) {
      this.inputShape = [...inputShape];
      this.outputShape = this.doBuild(inputShape);
      this.built = true;
    }
    return this.outputShape!;
  }

  protected abstract doBuild(inputShape: LayerShape): LayerShape;
  abstract forward(x: Tensor, ctx: CallContext): Tensor;
  abstract backward(dy: Tensor): Tensor;

  /** The input dtype this layer expects (embedding: int32). */
  get inputDType(): 'float32' | 'int32' {
    return 'float32';
  }

  get params(): Param[] {
    return this.paramList;
  }

  countParams(): number {
    return this.paramList.reduce((s, p) => s + p.value.size, 0);
  }

  protected addParam(name: string, shape: number[], values: Float32Array): Param {
    const p: Param = { name: `${this.name}/${name}`, value: keep(tensor(values, shape)), grad: null, trainable: this.trainable };
    this.paramList.push(p);
    return p;
  }

  /** Sets a parameter's gradient (adding when one is already set in this step). */
  protected setGrad(p: Param, g: Tensor): void {
    if (p.grad && !p.grad.isDisposed) ops.axpy_(p.grad, 1, g);
    else p.grad = g;
  }

  /** Frees what forward kept for backward (called by the model after each step). */
  clearSaved(): void {}

  dispose(): void {
    this.clearSaved();
    for (const p of this.paramList) p.value.dispose();
    this.paramList = [];
    this.built = false;
    this.disposed = true;
  }
}

// ------------------------------------------------------------------ dense, activation, dropout

export type ActivationName = ops.ActivationName;
const ACTIVATIONS = ops.ACTIVATIONS;
/** Keras' other names for the same functions. */
const ACTIVATION_ALIASES: Record<string, ActivationName> = { silu: 'swish' };

function activationName(layer: string, v: unknown): ActivationName {
  if (v === undefined || v === null) return 'linear';
  if (typeof v === 'string' && v in ACTIVATION_ALIASES) return ACTIVATION_ALIASES[v]!;
  if (!ACTIVATIONS.includes(v as ActivationName)) fail(layer, `unknown activation ${describe(v)}; use one of ${[...ACTIVATIONS, ...Object.keys(ACTIVATION_ALIASES)].join(', ')}`);
  return v as ActivationName;
}

export interface DenseArgs extends LayerArgs {
  units: number;
  activation?: ActivationName | 'silu';
  useBias?: boolean;
  kernelInitializer?: InitializerName;
  biasInitializer?: InitializerName;
}

export class Dense extends Layer {
  readonly units: number;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  private kernelInit: InitializerName;
  private biasInit: InitializerName;
  private saved: { x: Tensor; y: Tensor; z: Tensor | null } | null = null;
  /** Set by the model when the loss consumes this layer's pre-activation (logits). */
  emitLogits = false;

  constructor(args: DenseArgs) {
    super('Dense', args, {
      fn: 'dense',
      keys: ['units', 'activation', 'useBias', 'kernelInitializer', 'biasInitializer'],
      refused: { ...unsupported(['kernelRegularizer', 'biasRegularizer', 'activityRegularizer'], NO_REGULARIZERS), ...unsupported(['kernelConstraint', 'biasConstraint'], NO_CONSTRAINTS) },
    });
    this.units = positiveInt('dense', 'units', args.units);
    this.activation = activationName('dense', args.activation);
    this.useBias = flag('dense', 'useBias', args.useBias, true);
    this.kernelInit = initializerName('dense', 'kernelInitializer', args.kernelInitializer, 'glorotUniform');
    this.biasInit = initializerName('dense', 'biasInitializer', args.biasInitializer, 'zeros');
  }

  protected doBuild(inputShape: LayerShape): LayerShape {
    const inDim = inputShape[inputShape.length - 1];
    if (typeof inDim !== 'number') fail(this.name, `the last input dimension must be known, got [${inputShape}]`);
    this.addParam('kernel', [inDim, this.units], initialValues(this.kernelInit, [inDim, this.units], inDim, this.units));
    if (this.useBias) this.addParam('bias', [this.units], initialValues(this.biasInit, [this.units], inDim, this.units, 1 / Math.sqrt(inDim)));
    return [...inputShape.slice(0, -1), this.units];
  }

  forward(x: Tensor, ctx: CallContext): Tensor {
    const inDim = this.params[0]!.value.shape[0]!;
    if (x.shape[x.rank - 1] !== inDim) fail(this.name, `expected inputs with last dimension ${inDim}, got shape [${x.shape}]`);
    const rows = x.size / inDim;
    const z = ops.empty([...x.shape.slice(0, -1), this.units], x.device);
    ops.gemm_(z, x, this.params[0]!.value, false, false, 1, 0, rows, inDim);
    if (this.useBias) ops.biasAdd_(z, this.params[1]!.value);
    const act = this.emitLogits ? 'linear' : this.activation;
    const y = act === 'linear' ? z : ops.activation(act, z);
    if (ctx.training) this.saved = { x, y, z: act === 'linear' ? null : z };
    return y;
  }

  backward(dy: Tensor): Tensor {
    const s = this.saved;
    if (!s) throw new Error(`${this.name}: backward() needs a training-mode forward first`);
    const act = this.emitLogits ? 'linear' : this.activation;
    const dz = act === 'linear' ? dy : ops.activationGrad(act, s.z, s.y, dy);
    const inDim = this.params[0]!.value.shape[0]!;
    const rows = s.x.size / inDim;
    const kernel = this.params[0]!;
    const dW = ops.empty(kernel.value.shape, dy.device);
    ops.gemm_(dW, s.x, dz, true, false, 1, 0, rows, rows);
    this.setGrad(kernel, dW);
    if (this.useBias) this.setGrad(this.params[1]!, ops.columnSums(dz));
    const dx = ops.empty(s.x.shape, dy.device);
    ops.gemm_(dx, dz, kernel.value, false, true, 1, 0, rows, inDim);
    this.saved = null;
    return dx;
  }

  override clearSaved(): void {
    this.saved = null;
  }
}

export class Activation extends Layer {
  readonly activation: ActivationName;
  private saved: { x: Tensor; y: Tensor } | null = null;
  constructor(args: LayerArgs & { activation: ActivationName | 'silu' }) {
    super('Activation', args, { fn: 'activation', keys: ['activation'] });
    if (args.activation === undefined) fail('activation', `options must include 'activation'`);
    this.activation = activationName('activation', args.activation);
  }
  protected doBuild(inputShape: LayerShape): LayerShape {
    return inputShape;
  }
  forward(x: Tensor, ctx: CallContext): Tensor {
    const y = ops.activation(this.activation, x);
    if (ctx.training) this.saved = { x, y };
    return y;
  }
  backward(dy: Tensor): Tensor {
    if (!this.saved) throw new Error(`${this.name}: backward() needs a training-mode forward first`);
    const dx = ops.activationGrad(this.activation, this.saved.x, this.saved.y, dy);
    this.saved = null;
    return dx;
  }
  override clearSaved(): void {
    this.saved = null;
  }
}

export class Dropout extends Layer {
  readonly rate: number;
  private mask: Tensor | null = null;
  constructor(args: LayerArgs & { rate: number }) {
    super('Dropout', args, {
      fn: 'dropout',
      keys: ['rate'],
      refused: {
        seed: 'masks are drawn from the training run\'s random stream, seeded by setSeed() (docs/models.md, Randomness)',
        noiseShape: 'masks are elementwise; a broadcast noise shape is not implemented',
      },
    });
    if (args.rate === undefined) fail('dropout', `options must include 'rate'`);
    this.rate = rate('dropout', 'rate', args.rate);
  }
  protected doBuild(inputShape: LayerShape): LayerShape {
    return inputShape;
  }
  forward(x: Tensor, ctx: CallContext): Tensor {
    this.mask = null;
    if (!ctx.training || this.rate === 0) return x;
    this.mask = ops.dropoutMask(x.shape, this.rate, ctx.rng.nextSeed(), x.device);
    return ops.mul(x, this.mask);
  }
  backward(dy: Tensor): Tensor {
    return this.mask ? ops.mul(dy, this.mask) : dy;
  }
  override clearSaved(): void {
    this.mask = null;
  }
}

/** Applies a layer to every timestep: [batch, time, ...] (dense already acts on the last axis). */
export class TimeDistributed extends Layer {
  constructor(readonly layer: Layer, args: LayerArgs = {}) {
    super('TimeDistributed', args, { fn: 'timeDistributed', keys: ['layer'] });
    if (!(layer instanceof Layer)) fail('timeDistributed', `argument 'layer' must be a layer, got ${describe(layer)}`);
  }
  protected doBuild(inputShape: LayerShape): LayerShape {
    if (inputShape.length < 2) fail(this.name, `inputs must be [time, ...features], got [${inputShape}]`);
    const inner = this.layer.build(inputShape.slice(1));
    return [inputShape[0]!, ...inner];
  }
  override get params(): Param[] {
    return this.layer.params;
  }
  override countParams(): number {
    return this.layer.countParams();
  }
  forward(x: Tensor, ctx: CallContext): Tensor {
    return this.layer.forward(x, ctx);
  }
  backward(dy: Tensor): Tensor {
    return this.layer.backward(dy);
  }
  override clearSaved(): void {
    this.layer.clearSaved();
  }
  override dispose(): void {
    this.layer.dispose();
    super.dispose();
  }
}

// ------------------------------------------------------------------ embedding

export interface EmbeddingArgs extends LayerArgs {
  inputDim: number;
  outputDim: number;
  /** Index 0 is padding: sequences are right-padded with 0 and the GRU sees their lengths. */
  maskZero?: boolean;
  embeddingsInitializer?: InitializerName;
}

export class Embedding extends Layer {
  readonly inputDim: number;
  readonly outputDim: number;
  readonly maskZero: boolean;
  private init: InitializerName;
  private saved: Tensor | null = null;
  constructor(args: EmbeddingArgs) {
    super('Embedding', args, {
      fn: 'embedding',
      keys: ['inputDim', 'outputDim', 'maskZero', 'embeddingsInitializer'],
      refused: {
        ...unsupported(['embeddingsRegularizer', 'activityRegularizer'], NO_REGULARIZERS),
        embeddingsConstraint: NO_CONSTRAINTS,
        inputLength: 'not needed: the sequence length comes from the data (give inputShape: [timesteps | null])',
      },
    });
    this.inputDim = positiveInt('embedding', 'inputDim', args.inputDim);
    this.outputDim = positiveInt('embedding', 'outputDim', args.outputDim);
    this.maskZero = flag('embedding', 'maskZero', args.maskZero, false);
    this.init = initializerName('embedding', 'embeddingsInitializer', args.embeddingsInitializer, 'randomUniform');
  }
  override get inputDType(): 'int32' {
    return 'int32';
  }
  protected doBuild(inputShape: LayerShape): LayerShape {
    this.addParam('embeddings', [this.inputDim, this.outputDim], initialValues(this.init, [this.inputDim, this.outputDim], this.inputDim, this.outputDim, 1));
    return [...inputShape, this.outputDim];
  }
  forward(x: Tensor, ctx: CallContext): Tensor {
    if (x.dtype !== 'int32') fail(this.name, `inputs must be int32 token indices, got ${x.dtype}`);
    if (this.maskZero) {
      if (x.rank !== 2) fail(this.name, `maskZero needs inputs of shape [batch, time], got [${x.shape}]`);
      const [batch, time] = x.shape as [number, number];
      const data = hostValues(x, ctx);
      const lengths = new Int32Array(batch);
      for (let b = 0; b < batch; b++) {
        let len = time;
        while (len > 0 && data[b * time + len - 1] === 0) len--;
        lengths[b] = len;
      }
      ctx.lengths = lengths;
    }
    const y = ops.gather(this.params[0]!.value, x);
    if (ctx.training) this.saved = x;
    return y;
  }
  backward(dy: Tensor): Tensor {
    if (!this.saved) throw new Error(`${this.name}: backward() needs a training-mode forward first`);
    const table = this.params[0]!;
    const d = ops.empty(table.value.shape, dy.device);
    ops.scatterAdd_(d, this.saved, dy);
    this.setGrad(table, d);
    this.saved = null;
    return dy; // no gradient flows into integer indices; the model ignores it
  }
  override clearSaved(): void {
    this.saved = null;
  }
}

/**
 * Marks trailing timesteps whose features all equal maskValue as padding: the following GRU sees
 * each sample's length (outputs past it are zero, its state is the last valid step's).
 */
export class Masking extends Layer {
  readonly maskValue: number;
  constructor(args: LayerArgs & { maskValue?: number } = {}) {
    super('Masking', args, { fn: 'masking', keys: ['maskValue'] });
    this.maskValue = args.maskValue ?? 0;
    if (typeof this.maskValue !== 'number' || Number.isNaN(this.maskValue)) fail('masking', `'maskValue' must be a number, got ${describe(args.maskValue)}`);
  }
  protected doBuild(inputShape: LayerShape): LayerShape {
    if (inputShape.length !== 2) fail(this.name, `inputs must be [timesteps, features], got [${inputShape}]`);
    return inputShape;
  }
  forward(x: Tensor, ctx: CallContext): Tensor {
    const [batch, time, features] = x.shape as [number, number, number];
    const data = hostValues(x, ctx);
    const lengths = new Int32Array(batch);
    for (let b = 0; b < batch; b++) {
      let len = time;
      const padded = (t: number) => {
        for (let f = 0; f < features; f++) if (data[(b * time + t) * features + f] !== this.maskValue) return false;
        return true;
      };
      while (len > 0 && padded(len - 1)) len--;
      lengths[b] = len;
    }
    ctx.lengths = lengths;
    return x;
  }
  backward(dy: Tensor): Tensor {
    return dy;
  }
}

/**
 * One timestep of a sequence [batch, time, features] → [batch, features] (index −1: the last), e.g.
 * PyTorch's `out[:, -1, :]` after a GRU with returnSequences.
 */
export class SelectTimestep extends Layer {
  readonly index: number;
  private saved: { shape: readonly number[]; t: number } | null = null;
  constructor(args: LayerArgs & { index?: number } = {}) {
    super('SelectTimestep', args, { fn: 'selectTimestep', keys: ['index'] });
    this.index = args.index ?? -1;
    if (!Number.isInteger(this.index)) fail('selectTimestep', `'index' must be an integer, got ${describe(args.index)}`);
  }
  protected doBuild(inputShape: LayerShape): LayerShape {
    if (inputShape.length !== 2) fail(this.name, `inputs must be [timesteps, features], got [${inputShape}]`);
    return [inputShape[1]!];
  }
  forward(x: Tensor, ctx: CallContext): Tensor {
    const [batch, time, features] = x.shape as [number, number, number];
    const t = this.index < 0 ? time + this.index : this.index;
    if (t < 0 || t >= time) fail(this.name, `timestep ${this.index} is outside a sequence of ${time} steps`);
    if (ctx.training) this.saved = { shape: x.shape, t };
    ctx.lengths = null;
    return ops.sliceLast(x.reshape([batch, time * features]), t * features, features);
  }
  backward(dy: Tensor): Tensor {
    if (!this.saved) throw new Error(`${this.name}: backward() needs a training-mode forward first`);
    const [batch, time, features] = this.saved.shape as [number, number, number];
    const dx = ops.empty([batch, time * features], dy.device);
    ops.writeLast_(dx, dy, this.saved.t * features);
    this.saved = null;
    return dx.reshape([batch, time, features]);
  }
  override clearSaved(): void {
    this.saved = null;
  }
}

// ------------------------------------------------------------------ GRU

export type MergeMode = 'concat' | 'sum' | 'mul' | 'ave';

export interface GruArgs extends LayerArgs {
  units: number;
  returnSequences?: boolean;
  /** Layer.call() returns [output, ...final states]; not usable inside sequential(). */
  returnState?: boolean;
  bidirectional?: boolean;
  mergeMode?: MergeMode;
  /** Stacked layers run as one fused engine call (cuDNN on the GPU). */
  numLayers?: number;
  /** Dropout between stacked layers (training only). */
  dropout?: number;
  goBackwards?: boolean;
  /** Carry the final state of each batch over as the next batch's initial state (resetStates() clears). */
  stateful?: boolean;
  /** 'keras' (glorotUniform kernel, orthogonal recurrent, zero biases; default) or 'pytorch' (U(±1/√H) everywhere). */
  initializer?: 'keras' | 'pytorch';
}

/**
 * Keras GRU options the fused engines (cuDNN, and the CPU engine computing the same maths) cannot
 * honour: accepted only at the value they compute, otherwise refused with the reason.
 */
const FUSED_GRU = 'the fused GRU engines (cuDNN and the CPU engine) compute the cuDNN GRU only';
const GRU_FIXED: Record<string, { value: unknown; reason: string }> = {
  activation: { value: 'tanh', reason: `${FUSED_GRU}, whose candidate activation is tanh` },
  recurrentActivation: { value: 'sigmoid', reason: `${FUSED_GRU}, whose gate activation is sigmoid` },
  recurrentDropout: { value: 0, reason: `${FUSED_GRU}, which has no dropout on the recurrent state (use dropout between stacked layers, or a dropout layer)` },
  resetAfter: { value: true, reason: `${FUSED_GRU}, which applies the reset gate after the recurrent matrix product (Keras reset_after=True)` },
  unroll: { value: false, reason: `${FUSED_GRU}, which runs the whole sequence in one call (nothing to unroll)` },
  useBias: { value: true, reason: `${FUSED_GRU}, which always has both bias vectors (set them to zero and freeze the layer to do without)` },
};
const GRU_REFUSED: Record<string, string> = {
  ...unsupported(['kernelInitializer', 'recurrentInitializer', 'biasInitializer'], "choose the initial weights with initializer: 'keras' (glorotUniform, orthogonal, zeros) or 'pytorch' (U(±1/√H)), or set them with setWeights()"),
  ...unsupported(['kernelRegularizer', 'recurrentRegularizer', 'biasRegularizer', 'activityRegularizer'], NO_REGULARIZERS),
  ...unsupported(['kernelConstraint', 'recurrentConstraint', 'biasConstraint'], NO_CONSTRAINTS),
  timeMajor: 'inputs are batch-major [batch, timesteps, features]',
  implementation: `${FUSED_GRU}; there is no other implementation to choose`,
};

export class GRU extends Layer {
  readonly units: number;
  readonly returnSequences: boolean;
  readonly returnState: boolean;
  readonly bidirectional: boolean;
  readonly mergeMode: MergeMode;
  readonly numLayers: number;
  readonly dropout: number;
  readonly goBackwards: boolean;
  readonly stateful: boolean;
  readonly initializer: 'keras' | 'pytorch';
  private inputSize = 0;
  private state: Tensor | null = null;
  private previousState: Tensor | null = null;
  private saved: { res: GruResult; lengths: Int32Array | null; merged: Tensor | null; yf: Tensor | null; yb: Tensor | null; batch: number; seqLen: number } | null = null;

  constructor(args: GruArgs) {
    const given = (typeof args === 'object' && args !== null ? args : {}) as Record<string, unknown>;
    // Fixed options are fine at the value the engine computes (e.g. activation: 'tanh').
    const refused = { ...GRU_REFUSED };
    for (const [k, { value, reason }] of Object.entries(GRU_FIXED)) if (given[k] !== undefined && given[k] !== value) refused[k] = `${reason}; got ${describe(given[k])}`;
    super('GRU', args, {
      fn: 'gru',
      keys: ['units', 'returnSequences', 'returnState', 'bidirectional', 'mergeMode', 'numLayers', 'dropout', 'goBackwards', 'stateful', 'initializer', ...Object.keys(GRU_FIXED)],
      refused,
    });
    this.units = positiveInt('gru', 'units', args.units);
    this.returnSequences = flag('gru', 'returnSequences', args.returnSequences, false);
    this.returnState = flag('gru', 'returnState', args.returnState, false);
    this.bidirectional = flag('gru', 'bidirectional', args.bidirectional, false);
    this.mergeMode = args.mergeMode ?? 'concat';
    if (!['concat', 'sum', 'mul', 'ave'].includes(this.mergeMode)) fail('gru', `'mergeMode' must be one of 'concat', 'sum', 'mul', 'ave', got ${describe(args.mergeMode)}`);
    this.numLayers = args.numLayers === undefined ? 1 : positiveInt('gru', 'numLayers', args.numLayers);
    this.dropout = rate('gru', 'dropout', args.dropout);
    if (this.dropout > 0 && this.numLayers === 1) {
      fail('gru', `'dropout' applies between stacked layers (cuDNN's dropout), and with numLayers: 1 there are none, so it would do nothing; for Keras' dropout on the inputs put layers.dropout() before the GRU`);
    }
    this.goBackwards = flag('gru', 'goBackwards', args.goBackwards, false);
    this.stateful = flag('gru', 'stateful', args.stateful, false);
    this.initializer = args.initializer ?? 'keras';
    if (this.initializer !== 'keras' && this.initializer !== 'pytorch') fail('gru', `'initializer' must be 'keras' or 'pytorch', got ${describe(args.initializer)}`);
  }

  private get directions(): number {
    return this.bidirectional ? 2 : 1;
  }
  private get outWidth(): number {
    return this.bidirectional && this.mergeMode === 'concat' ? 2 * this.units : this.units;
  }

  protected doBuild(inputShape: LayerShape): LayerShape {
    if (inputShape.length !== 2 || typeof inputShape[1] !== 'number') fail(this.name, `inputs must be [timesteps | null, features], got [${inputShape}]`);
    this.inputSize = inputShape[1];
    const H = this.units;
    const shapes = gruParamShapes(this.inputSize, H, this.numLayers, this.bidirectional);
    for (const [name, shape] of Object.entries(shapes)) {
      let values: Float32Array;
      if (this.initializer === 'pytorch') values = initialValues('pytorch', shape, H, H, 1 / Math.sqrt(H));
      else if (name.startsWith('weight_ih')) values = initialValues('glorotUniform', shape, shape[1]!, shape[0]!);
      else if (name.startsWith('weight_hh')) values = initialValues('orthogonal', shape, H, 3 * H);
      else values = initialValues('zeros', shape, 0, 0);
      this.addParam(name, shape, values);
    }
    return this.returnSequences ? [inputShape[0]!, this.outWidth] : [this.outWidth];
  }

  /** The parameters by PyTorch's names (the engine's canonical layout). */
  private paramRecord(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const p of this.params) out[p.name.slice(this.name.length + 1)] = p.value;
    return out;
  }

  /** Clears the carried state of a stateful layer. */
  resetStates(): void {
    this.state?.dispose();
    this.previousState?.dispose();
    this.state = null;
    this.previousState = null;
  }

  forward(x: Tensor, ctx: CallContext, initialState?: Tensor | Tensor[]): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.inputSize) fail(this.name, `expected inputs [batch, timesteps, ${this.inputSize}], got [${x.shape}]`);
    const [batch, seqLen] = x.shape as [number, number];
    const lengths = ctx.lengths;
    const input = this.goBackwards ? ops.reverseTime(x, lengths) : x;
    let h0: Tensor | undefined;
    const L = this.numLayers, D = this.directions, H = this.units;
    if (initialState !== undefined) {
      const states = Array.isArray(initialState) ? initialState : [initialState];
      if (states.length === 1 && states[0]!.size === L * D * batch * H) {
        h0 = states[0]!.reshape([L * D, batch, H]);
      } else {
        if (states.length !== L * D || states.some((s) => s.size !== batch * H)) fail(this.name, `initialState must be ${L * D} tensors of shape [batch, ${H}] (or one [${L * D}, batch, ${H}])`);
        h0 = ops.empty([L * D, batch, H], x.device);
        states.forEach((s, i) => ops.writeFirst_(h0!, s.reshape([1, batch, H]), i));
      }
    } else if (this.stateful && this.state) {
      if (this.state.shape[1] !== batch) fail(this.name, `stateful layer got a batch of ${batch} but its state is for batches of ${this.state.shape[1]}; call resetStates() or keep the batch size fixed`);
      h0 = this.state;
    }
    const res = gruOp(input, this.paramRecord(), {
      hiddenSize: H, numLayers: L, bidirectional: this.bidirectional, h0, lengths: lengths ?? undefined,
      training: ctx.training, dropout: ctx.training ? this.dropout : 0, seed: ctx.training && this.dropout > 0 ? ctx.rng.nextSeed() : 0,
    });
    if (this.stateful) {
      this.previousState?.dispose();
      this.previousState = this.state; // still needed by this step's backward
      this.state = keep(res.hN.clone());
    }
    let out: Tensor;
    let yf: Tensor | null = null;
    let yb: Tensor | null = null;
    if (this.returnSequences) {
      out = res.output;
    } else if (D === 1) {
      out = ops.sliceFirst(res.hN, L - 1, 1).reshape([batch, H]);
    } else {
      const both = ops.sliceFirst(res.hN, 2 * L - 2, 2); // [2, batch, H]
      out = ops.concatLast([ops.sliceFirst(both, 0, 1).reshape([batch, H]), ops.sliceFirst(both, 1, 1).reshape([batch, H])]);
    }
    if (D === 2 && this.mergeMode !== 'concat') {
      yf = ops.sliceLast(out, 0, H);
      yb = ops.sliceLast(out, H, H);
      if (this.mergeMode === 'sum') out = ops.add(yf, yb);
      else if (this.mergeMode === 'mul') out = ops.mul(yf, yb);
      else out = ops.scale(ops.add(yf, yb), 0.5);
    }
    if (ctx.training) this.saved = { res, lengths, merged: out, yf, yb, batch, seqLen };
    if (!this.returnSequences) ctx.lengths = null;
    this.lastStates = res.hN;
    return out;
  }

  /** hN of the last forward ([numLayers·directions, batch, units]); for returnState. */
  lastStates: Tensor | null = null;

  /** Runs the layer on its own: the output, and with returnState the final states ([batch, units] each). */
  call(x: Tensor, options: { training?: boolean; initialState?: Tensor | Tensor[]; lengths?: Int32Array } = {}): Tensor | Tensor[] {
    this.assertLive('call');
    checkOptions(`${this.name}.call`, options, ['training', 'initialState', 'lengths']);
    if (!(x instanceof Tensor) || x.isDisposed || x.rank !== 3) fail(`${this.name}.call`, `argument 'x' must be a live tensor [batch, timesteps, features], got ${describe(x)}`);
    if (options.lengths !== undefined && !(options.lengths instanceof Int32Array)) fail(`${this.name}.call`, `'lengths' must be an Int32Array, got ${describe(options.lengths)}`);
    const given = options.initialState === undefined ? [] : Array.isArray(options.initialState) ? options.initialState : [options.initialState];
    if (!given.length && options.initialState !== undefined) fail(`${this.name}.call`, `'initialState' must be a tensor or a non-empty array of tensors, got an empty array`);
    given.forEach((t, i) => {
      if (!(t instanceof Tensor) || t.isDisposed) fail(`${this.name}.call`, `'initialState'${Array.isArray(options.initialState) ? `[${i}]` : ''} must be a live tensor, got ${describe(t)}`);
    });
    if (!this.built) this.build([x.shape[1]!, x.shape[2]!]);
    const ctx: CallContext = { training: flag(`${this.name}.call`, 'training', options.training, false), lengths: options.lengths ?? null, rng: globalRng };
    const out = this.forward(x, ctx, options.initialState);
    if (!this.returnState) return out;
    const hN = this.lastStates!;
    const batch = x.shape[0]!;
    const states: Tensor[] = [];
    const D = this.directions;
    for (let d = 0; d < D; d++) states.push(ops.sliceFirst(hN, (this.numLayers - 1) * D + d, 1).reshape([batch, this.units]));
    return [out, ...states];
  }

  backward(dy: Tensor): Tensor {
    const s = this.saved;
    if (!s) throw new Error(`${this.name}: backward() needs a training-mode forward first`);
    const { batch } = s;
    const L = this.numLayers, D = this.directions, H = this.units;
    let dWide = dy; // gradient w.r.t. the concatenated [.., D·H] output
    if (D === 2 && this.mergeMode !== 'concat') {
      let df: Tensor, db: Tensor;
      if (this.mergeMode === 'sum') df = db = dy;
      else if (this.mergeMode === 'ave') df = db = ops.scale(dy, 0.5);
      else {
        df = ops.mul(dy, s.yb!);
        db = ops.mul(dy, s.yf!);
      }
      dWide = ops.concatLast([df, db]);
    }
    let g;
    if (this.returnSequences) {
      g = s.res.backward(dWide, null);
    } else {
      const dhN = ops.empty([L * D, batch, H], dy.device);
      for (let d = 0; d < D; d++) ops.writeFirst_(dhN, ops.sliceLast(dWide, d * H, H).reshape([1, batch, H]), (L - 1) * D + d);
      g = s.res.backward(null, dhN);
    }
    for (const p of this.params) this.setGrad(p, g.dParams[p.name.slice(this.name.length + 1)]!);
    this.saved = null;
    return this.goBackwards ? ops.reverseTime(g.dx, s.lengths) : g.dx;
  }

  override clearSaved(): void {
    if (this.saved?.res.state && !this.saved.res.state.isDisposed) this.saved.res.state.dispose();
    this.saved = null;
  }

  override dispose(): void {
    this.resetStates();
    super.dispose();
  }
}

// ------------------------------------------------------------------ factories (tfjs style)

export const dense = (args: DenseArgs): Dense => new Dense(args);
export const activation = (args: LayerArgs & { activation: ActivationName | 'silu' }): Activation => new Activation(args);
export const dropout = (args: LayerArgs & { rate: number }): Dropout => new Dropout(args);
export const timeDistributed = (args: LayerArgs & { layer: Layer }): TimeDistributed => new TimeDistributed(args?.layer, args);
export const embedding = (args: EmbeddingArgs): Embedding => new Embedding(args);
export const selectTimestep = (args: LayerArgs & { index?: number } = {}): SelectTimestep => new SelectTimestep(args);
export const masking = (args: LayerArgs & { maskValue?: number } = {}): Masking => new Masking(args);
export const gru = (args: GruArgs): GRU => new GRU(args);

/** Disposes any tensors in `value` (re-exported helper for layer users). */
export { dispose };
