// The layer base class and what every layer shares: parameters, the call context that flows
// between layers, option checks, and the functional API's symbolic tensors (layer.apply()).
// Each layer's forward(x, ctx) keeps what its backward needs; backward(dy) returns dx and sets the
// gradients of its parameters. Parameters are kept tensors (they survive tidy scopes) owned by the
// layer; dispose() frees them.
import { describe } from '../backend';
import { keep } from '../engine';
import * as ops from '../ops';
import { checkOptions } from '../options';
import type { Rng } from '../random';
import { Tensor, tensor } from '../tensor';
import { INITIALIZERS, type InitializerName } from './initializers';

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
export function hostValues(x: Tensor, ctx: CallContext): Float32Array | Int32Array {
  return ctx.host && ctx.host.tensor === x ? ctx.host.data : (x.dataSync() as Float32Array | Int32Array);
}

export interface LayerArgs {
  name?: string;
  /** Input shape without the batch dimension (first layer only), e.g. [timesteps | null, features]. */
  inputShape?: LayerShape;
  trainable?: boolean;
}

export const nameCounts = new Map<string, number>();
export function uniqueName(base: string): string {
  const n = nameCounts.get(base) ?? 0;
  nameCounts.set(base, n + 1);
  return n === 0 ? base : `${base}_${n}`;
}

export function fail(layer: string, message: string): never {
  throw new TypeError(`${layer}: ${message}`);
}

export function positiveInt(layer: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(layer, `'${name}' must be a positive integer, got ${describe(v)}`);
  return v;
}

export function rate(layer: string, name: string, v: unknown): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) fail(layer, `'${name}' must be a number in [0, 1), got ${describe(v)}`);
  return v;
}

export function flag(layer: string, name: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') fail(layer, `'${name}' must be true or false, got ${describe(v)}`);
  return v;
}

export function initializerName(layer: string, name: string, v: unknown, fallback: InitializerName): InitializerName {
  if (v === undefined) return fallback;
  if (!INITIALIZERS.includes(v as InitializerName)) fail(layer, `'${name}' must be one of ${INITIALIZERS.join(', ')}, got ${describe(v)}`);
  return v as InitializerName;
}

/** Keras options this library does not implement, each refused with the same reason. */
export function unsupported(keys: string[], reason: string): Record<string, string> {
  return Object.fromEntries(keys.map((k) => [k, reason]));
}
export const NO_REGULARIZERS = 'regularizers are not implemented (add a penalty to the data or use adamw({weightDecay}))';
export const NO_CONSTRAINTS = 'weight constraints are not implemented';

/** The options every layer takes, and how a layer declares its own (checked in the Layer constructor). */
export const LAYER_KEYS = ['name', 'inputShape', 'trainable'];
export interface LayerOptionSpec {
  /** The factory's name, used in error messages ('dense'). */
  fn: string;
  keys: string[];
  refused?: Record<string, string>;
}


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

