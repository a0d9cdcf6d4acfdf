// Core layers: dense, activation, dropout, timeDistributed, masking, selectTimestep.
import { describe } from '../backend';
import * as ops from '../ops';
import type { Tensor } from '../tensor';
import { Layer, NO_CONSTRAINTS, NO_REGULARIZERS, fail, flag, hostValues, initializerName, positiveInt, rate, unsupported, type CallContext, type LayerArgs, type LayerShape, type Param } from './base';
import { initialValues, type InitializerName } from './initializers';


export type ActivationName = ops.ActivationName;
export const ACTIVATIONS = ops.ACTIVATIONS;
/** Keras' other names for the same functions. */
export const ACTIVATION_ALIASES: Record<string, ActivationName> = { silu: 'swish' };

export function activationName(layer: string, v: unknown): ActivationName {
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
  protected override saved: { x: Tensor; y: Tensor; z: Tensor | null } | null = null;
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
}

export class Activation extends Layer {
  readonly activation: ActivationName;
  protected override saved: { x: Tensor; y: Tensor } | null = null;
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
}

export class Dropout extends Layer {
  readonly rate: number;
  protected override saved: Tensor | null = null;
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
    this.saved = null;
    if (!ctx.training || this.rate === 0) return x;
    this.saved = ops.dropoutMask(x.shape, this.rate, ctx.rng.nextSeed(), x.device);
    return ops.mul(x, this.saved);
  }
  backward(dy: Tensor): Tensor {
    return this.saved ? ops.mul(dy, this.saved) : dy;
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
  override detachSaved(): unknown {
    return this.layer.detachSaved();
  }
  override attachSaved(saved: unknown): void {
    this.layer.attachSaved(saved);
  }
  override dispose(): void {
    this.layer.dispose();
    super.dispose();
  }
}

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
  protected override saved: { shape: readonly number[]; t: number } | null = null;
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
}

