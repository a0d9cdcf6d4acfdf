// Optimizers with Keras 3's update formulas and defaults, fused native updates, learning-rate
// schedules and gradient clipping (clipnorm per tensor, globalClipnorm, clipvalue). Slot state
// (momenta) is kept per parameter and lives with the model until dispose().
import { describe } from '../backend';
import { keep } from '../engine';
import type { Param } from '../layers';
import * as ops from '../ops';
import { checkOptions } from '../options';
import { tensor, type Tensor } from '../tensor';

/** A learning rate as a function of the step (0-based iterations count). */
export type LearningRateSchedule = (step: number) => number;

export interface OptimizerArgs {
  learningRate?: number | LearningRateSchedule;
  /** Clip each gradient tensor to this L2 norm. */
  clipnorm?: number;
  /** Clip all gradients together to this global L2 norm. */
  globalClipnorm?: number;
  /** Clip every gradient element to [−clipvalue, clipvalue]. */
  clipvalue?: number;
}

const OPTIMIZER_KEYS = ['learningRate', 'clipnorm', 'globalClipnorm', 'clipvalue'];
const NO_EMA = 'an exponential moving average of the weights is not implemented';
const OPTIMIZER_REFUSED: Record<string, string> = {
  useEma: NO_EMA, emaMomentum: NO_EMA, emaOverwriteFrequency: NO_EMA,
  gradientAccumulationSteps: 'gradient accumulation is not implemented (use a larger batchSize)',
  lossScaleFactor: 'loss scaling is for mixed precision, which this library does not use (float32 throughout)',
};

function positive(op: string, name: string, v: unknown, allowZero = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new TypeError(`${op}: '${name}' must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${describe(v)}`);
  }
  return v;
}

export abstract class Optimizer {
  /** Completed update steps. */
  iterations = 0;
  protected lr: number | LearningRateSchedule;
  readonly clipnorm?: number;
  readonly globalClipnorm?: number;
  readonly clipvalue?: number;
  protected slots = new Map<Param, Tensor[]>();

  /** `keys`/`refused`: the subclass's own options, checked with the common ones. */
  constructor(readonly name: string, args: OptimizerArgs, defaultLr: number, keys: string[], refused: Record<string, string> = {}) {
    checkOptions(name, args, [...OPTIMIZER_KEYS, ...keys], { optional: false, refused: { ...OPTIMIZER_REFUSED, ...refused } });
    const lr = args.learningRate ?? defaultLr;
    if (typeof lr !== 'function') positive(name, 'learningRate', lr);
    this.lr = lr;
    if (args.clipnorm !== undefined) this.clipnorm = positive(name, 'clipnorm', args.clipnorm);
    if (args.globalClipnorm !== undefined) this.globalClipnorm = positive(name, 'globalClipnorm', args.globalClipnorm);
    if (args.clipvalue !== undefined) this.clipvalue = positive(name, 'clipvalue', args.clipvalue);
  }

  /** The learning rate of the next step. */
  get learningRate(): number {
    return typeof this.lr === 'function' ? this.lr(this.iterations) : this.lr;
  }
  /** Sets a constant learning rate (replaces a schedule; used by reduceLROnPlateau). */
  set learningRate(value: number) {
    this.lr = positive(this.name, 'learningRate', value);
  }

  /** Applies one update to every trainable parameter with a gradient. */
  apply(params: Param[]): void {
    this.checkParams('apply', params);
    const live = params.filter((p) => p.trainable && p.grad);
    const grads = live.map((p) => p.grad!);
    if (this.clipvalue !== undefined) for (const g of grads) ops.clipValue_(g, -this.clipvalue, this.clipvalue);
    if (this.clipnorm !== undefined) ops.clipNorm_(grads, this.clipnorm, false);
    if (this.globalClipnorm !== undefined) ops.clipNorm_(grads, this.globalClipnorm, true);
    const lr = this.learningRate;
    this.iterations += 1;
    for (const p of live) this.update(p, p.grad!, lr, this.slotsFor(p));
  }

  private checkParams(method: string, params: unknown): void {
    if (!Array.isArray(params) || !params.every((p) => typeof p === 'object' && p !== null && 'value' in p && 'grad' in p)) {
      throw new TypeError(`${this.name}.${method}: argument 'params' must be a model's parameters (model.params), got ${describe(params)}`);
    }
  }

  private slotsFor(p: Param): Tensor[] {
    let s = this.slots.get(p);
    if (!s) {
      s = Array.from({ length: this.slotCount() }, () => keep(ops.empty(p.value.shape, p.value.device)));
      this.slots.set(p, s);
    }
    return s;
  }

  protected abstract slotCount(): number;
  protected abstract update(p: Param, g: Tensor, lr: number, slots: Tensor[]): void;

  /** The slot tensors in parameter order (for saving). */
  getState(params: Param[]): { iterations: number; slots: Tensor[][] } {
    this.checkParams('getState', params);
    return { iterations: this.iterations, slots: params.map((p) => this.slots.get(p) ?? []) };
  }

  /**
   * Restores state saved from getState() (host copies): the iteration count and, per parameter in
   * `params` order, either no slots (not updated yet) or all of its slots. Replaces current slots.
   */
  setState(params: Param[], state: { iterations: number; slots: Float32Array[][] }): void {
    this.checkParams('setState', params);
    const op = `${this.name}.setState`;
    if (typeof state !== 'object' || state === null) throw new TypeError(`${op}: state must be {iterations, slots}, got ${describe(state)}`);
    const { iterations, slots } = state;
    if (!Number.isInteger(iterations) || iterations < 0) throw new TypeError(`${op}: 'iterations' must be a non-negative integer, got ${describe(iterations)}`);
    if (!Array.isArray(slots) || slots.length !== params.length) throw new TypeError(`${op}: 'slots' must hold one list per parameter (${params.length}), got ${describe(slots)}`);
    const count = this.slotCount();
    params.forEach((p, i) => {
      const list = slots[i]!;
      if (list.length !== 0 && list.length !== count) throw new TypeError(`${op}: parameter '${p.name}' has ${list.length} slots, this optimizer keeps ${count}`);
      list.forEach((d, j) => {
        if (!(d instanceof Float32Array) || d.length !== p.value.size) throw new TypeError(`${op}: slot ${j} of '${p.name}' must be a Float32Array of ${p.value.size} values, got ${describe(d)}`);
      });
    });
    this.dispose();
    params.forEach((p, i) => {
      // Kept beyond any scope: the optimizer owns its slots until dispose().
      if (slots[i]!.length) this.slots.set(p, slots[i]!.map((d) => keep(tensor(d, [...p.value.shape], 'float32', { device: p.value.device }))));
    });
    this.iterations = iterations;
  }

  /**
   * The optimizer's settings as JSON (the argument of the matching factory, plus className). A
   * learning-rate schedule is a function and is not included (learningRate: null).
   */
  getConfig(): Record<string, unknown> {
    const config: Record<string, unknown> = { className: this.name, learningRate: typeof this.lr === 'number' ? this.lr : null };
    for (const k of ['clipnorm', 'globalClipnorm', 'clipvalue'] as const) if (this[k] !== undefined) config[k] = this[k];
    return config;
  }

  dispose(): void {
    for (const s of this.slots.values()) for (const t of s) t.dispose();
    this.slots.clear();
  }
}

export interface SgdArgs extends OptimizerArgs {
  momentum?: number;
  nesterov?: boolean;
}

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly nesterov: boolean;
  constructor(args: SgdArgs = {}) {
    super('sgd', args, 0.01, ['momentum', 'nesterov']);
    this.momentum = args.momentum === undefined ? 0 : positive('sgd', 'momentum', args.momentum, true);
    this.nesterov = args.nesterov ?? false;
    if (typeof this.nesterov !== 'boolean') throw new TypeError(`sgd: 'nesterov' must be true or false, got ${describe(args.nesterov)}`);
  }
  protected slotCount(): number {
    return this.momentum > 0 ? 1 : 0;
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), momentum: this.momentum, nesterov: this.nesterov };
  }
  protected update(p: Param, g: Tensor, lr: number, slots: Tensor[]): void {
    ops.sgdUpdate_(p.value, g, slots[0] ?? null, lr, this.momentum, this.nesterov);
  }
}

export interface AdamArgs extends OptimizerArgs {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export class Adam extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  constructor(args: AdamArgs & { weightDecay?: number } = {}, name = 'adam', defaultWeightDecay = 0) {
    super(name, args, 0.001, ['beta1', 'beta2', 'epsilon', 'weightDecay'], { amsgrad: 'AMSGrad is not implemented' });
    this.beta1 = args.beta1 ?? 0.9;
    this.beta2 = args.beta2 ?? 0.999;
    this.epsilon = args.epsilon ?? 1e-7;
    this.weightDecay = args.weightDecay ?? defaultWeightDecay;
    for (const k of ['beta1', 'beta2'] as const) {
      if (!(this[k] >= 0 && this[k] < 1)) throw new TypeError(`${name}: '${k}' must be in [0, 1), got ${describe(args[k])}`);
    }
    positive(name, 'epsilon', this.epsilon, true);
    positive(name, 'weightDecay', this.weightDecay, true);
  }
  protected slotCount(): number {
    return 2;
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, weightDecay: this.weightDecay };
  }
  private step = 0;
  override apply(params: Param[]): void {
    this.step = this.iterations + 1;
    super.apply(params);
  }
  protected update(p: Param, g: Tensor, lr: number, slots: Tensor[]): void {
    const t = this.step;
    const alpha = (lr * Math.sqrt(1 - this.beta2 ** t)) / (1 - this.beta1 ** t);
    ops.adamUpdate_(p.value, g, slots[0]!, slots[1]!, alpha, lr, this.beta1, this.beta2, this.epsilon, this.weightDecay);
  }
}

export class AdamW extends Adam {
  constructor(args: AdamArgs & { weightDecay?: number } = {}) {
    super(args, 'adamw', 0.004);
  }
}

export interface RmspropArgs extends OptimizerArgs {
  rho?: number;
  momentum?: number;
  epsilon?: number;
}

export class RMSprop extends Optimizer {
  readonly rho: number;
  readonly momentum: number;
  readonly epsilon: number;
  constructor(args: RmspropArgs = {}) {
    super('rmsprop', args, 0.001, ['rho', 'momentum', 'epsilon'], { centered: 'centered RMSprop is not implemented' });
    this.rho = args.rho ?? 0.9;
    if (!(this.rho >= 0 && this.rho < 1)) throw new TypeError(`rmsprop: 'rho' must be in [0, 1), got ${describe(args.rho)}`);
    this.momentum = args.momentum === undefined ? 0 : positive('rmsprop', 'momentum', args.momentum, true);
    this.epsilon = positive('rmsprop', 'epsilon', args.epsilon ?? 1e-7, true);
  }
  protected slotCount(): number {
    return this.momentum > 0 ? 2 : 1;
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), momentum: this.momentum, epsilon: this.epsilon, rho: this.rho };
  }
  protected update(p: Param, g: Tensor, lr: number, slots: Tensor[]): void {
    ops.rmspropUpdate_(p.value, g, slots[0]!, slots[1] ?? null, lr, this.rho, this.momentum, this.epsilon);
  }
}

export const sgd = (args: SgdArgs = {}): SGD => new SGD(args);
export const adam = (args: AdamArgs = {}): Adam => new Adam(args);
export const adamw = (args: AdamArgs & { weightDecay?: number } = {}): AdamW => new AdamW(args);
export const rmsprop = (args: RmspropArgs = {}): RMSprop => new RMSprop(args);

/** An optimizer from a name ('adam', 'sgd', 'rmsprop', 'adamw') or an instance. */
export function resolveOptimizer(o: unknown): Optimizer {
  if (o instanceof Optimizer) return o;
  switch (o) {
    case 'sgd': return sgd();
    case 'adam': return adam();
    case 'adamw': return adamw();
    case 'rmsprop': return rmsprop();
    default:
      throw new TypeError(`compile: unknown optimizer ${describe(o)}; use 'sgd', 'adam', 'adamw', 'rmsprop' or an optimizer instance (optimizers.adam({learningRate: 1e-3}))`);
  }
}

// ------------------------------------------------------------------ schedules

/** Checks a schedule's options: known keys, required positive numbers. */
function scheduleArgs<T extends object>(fn: string, args: T, keys: string[], required: string[]): T {
  checkOptions(fn, args, keys, { optional: false });
  for (const k of required) positive(fn, k, (args as Record<string, unknown>)[k]);
  return args;
}

/** Keras ExponentialDecay: lr0 · rate^(step / decaySteps) (floored with staircase). */
export function exponentialDecay(args: { initialLearningRate: number; decaySteps: number; decayRate: number; staircase?: boolean }): LearningRateSchedule {
  const { initialLearningRate, decaySteps, decayRate, staircase } = scheduleArgs('exponentialDecay', args, ['initialLearningRate', 'decaySteps', 'decayRate', 'staircase'], ['initialLearningRate', 'decaySteps', 'decayRate']);
  return (step) => {
    const p = step / decaySteps;
    return initialLearningRate * decayRate ** (staircase ? Math.floor(p) : p);
  };
}

/** Keras PiecewiseConstantDecay: values[i] while step ≤ boundaries[i] (values has one more entry). */
export function piecewiseConstantDecay(args: { boundaries: number[]; values: number[] }): LearningRateSchedule {
  const { boundaries, values } = scheduleArgs('piecewiseConstantDecay', args, ['boundaries', 'values'], []);
  if (!Array.isArray(boundaries) || !boundaries.every((b, i) => Number.isFinite(b) && (i === 0 || b > boundaries[i - 1]!))) {
    throw new TypeError(`piecewiseConstantDecay: 'boundaries' must be an increasing array of numbers, got ${describe(boundaries)}`);
  }
  if (!Array.isArray(values) || values.length !== boundaries.length + 1) {
    throw new TypeError(`piecewiseConstantDecay: 'values' must be an array of ${boundaries.length + 1} learning rates (one more than the boundaries), got ${describe(values)}`);
  }
  values.forEach((v, i) => positive('piecewiseConstantDecay', `values[${i}]`, v));
  return (step) => {
    const i = boundaries.findIndex((b) => step <= b);
    return values[i === -1 ? values.length - 1 : i]!;
  };
}

/** Keras CosineDecay (without warmup). */
export function cosineDecay(args: { initialLearningRate: number; decaySteps: number; alpha?: number }): LearningRateSchedule {
  const { initialLearningRate, decaySteps, alpha = 0 } = scheduleArgs('cosineDecay', args, ['initialLearningRate', 'decaySteps', 'alpha'], ['initialLearningRate', 'decaySteps']);
  if (!(alpha >= 0 && alpha <= 1)) throw new TypeError(`cosineDecay: 'alpha' must be in [0, 1], got ${describe(alpha)}`);
  return (step) => {
    const p = Math.min(step, decaySteps) / decaySteps;
    return initialLearningRate * ((1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * p)) + alpha);
  };
}
