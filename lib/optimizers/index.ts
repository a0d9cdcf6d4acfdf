// Optimizers with Keras 3's update formulas and defaults, fused native updates, learning-rate
// schedules and gradient clipping (clipnorm per tensor, globalClipnorm, clipvalue). Slot state
// (momenta) is kept per parameter and lives with the model until dispose().
import { describe } from '../backend';
import { keep } from '../engine';
import type { Param } from '../layers';
import * as ops from '../ops';
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

  constructor(readonly name: string, args: OptimizerArgs, defaultLr: number) {
    if (typeof args !== 'object' || args === null) throw new TypeError(`${name}: options must be an object, got ${describe(args)}`);
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
    const live = params.filter((p) => p.trainable && p.grad);
    const grads = live.map((p) => p.grad!);
    if (this.clipvalue !== undefined) for (const g of grads) ops.clipValue_(g, -this.clipvalue, this.clipvalue);
    if (this.clipnorm !== undefined) ops.clipNorm_(grads, this.clipnorm, false);
    if (this.globalClipnorm !== undefined) ops.clipNorm_(grads, this.globalClipnorm, true);
    const lr = this.learningRate;
    this.iterations += 1;
    for (const p of live) this.update(p, p.grad!, lr, this.slotsFor(p));
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
    return { iterations: this.iterations, slots: params.map((p) => this.slots.get(p) ?? []) };
  }

  /**
   * Restores state saved from getState() (host copies): the iteration count and, per parameter in
   * `params` order, either no slots (not updated yet) or all of its slots. Replaces current slots.
   */
  setState(params: Param[], state: { iterations: number; slots: Float32Array[][] }): void {
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
    super('sgd', args, 0.01);
    this.momentum = args.momentum === undefined ? 0 : positive('sgd', 'momentum', args.momentum, true);
    this.nesterov = args.nesterov ?? false;
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
  constructor(args: AdamArgs & { weightDecay?: number } = {}, name = 'adam') {
    super(name, args, 0.001);
    this.beta1 = args.beta1 ?? 0.9;
    this.beta2 = args.beta2 ?? 0.999;
    this.epsilon = args.epsilon ?? 1e-7;
    this.weightDecay = args.weightDecay ?? 0;
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
    super({ ...args, weightDecay: args.weightDecay ?? 0.004 }, 'adamw');
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
    super('rmsprop', args, 0.001);
    this.rho = args.rho ?? 0.9;
    this.momentum = args.momentum === undefined ? 0 : positive('rmsprop', 'momentum', args.momentum, true);
    this.epsilon = args.epsilon ?? 1e-7;
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

/** Keras ExponentialDecay: lr0 · rate^(step / decaySteps) (floored with staircase). */
export function exponentialDecay(args: { initialLearningRate: number; decaySteps: number; decayRate: number; staircase?: boolean }): LearningRateSchedule {
  return (step) => {
    const p = step / args.decaySteps;
    return args.initialLearningRate * args.decayRate ** (args.staircase ? Math.floor(p) : p);
  };
}

/** Keras PiecewiseConstantDecay. */
export function piecewiseConstantDecay(args: { boundaries: number[]; values: number[] }): LearningRateSchedule {
  return (step) => {
    const i = args.boundaries.findIndex((b) => step <= b);
    return args.values[i === -1 ? args.values.length - 1 : i]!;
  };
}

/** Keras CosineDecay (without warmup). */
export function cosineDecay(args: { initialLearningRate: number; decaySteps: number; alpha?: number }): LearningRateSchedule {
  const alpha = args.alpha ?? 0;
  return (step) => {
    const p = Math.min(step, args.decaySteps) / args.decaySteps;
    return args.initialLearningRate * ((1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * p)) + alpha);
  };
}
