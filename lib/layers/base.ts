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
  /**
   * Training: whether backward must return the gradient of the (first) input. A graph says false
   * where no trainable parameter lies upstream (the input is data, or computed from data by
   * frozen layers only): a recurrent layer then skips its input-gradient GEMM. Default true.
   */
  inputGradient?: boolean;
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


// ------------------------------------------------------------------ functional API: symbolic tensors

/** One call of a layer in a functional graph: the symbolic tensors it consumed and produced. */
export interface GraphNode {
  layer: Layer;
  inputs: SymbolicTensor[];
  outputs: SymbolicTensor[];
}

/**
 * A placeholder of the functional API: the shape (without the batch dimension) and dtype of a
 * tensor that will flow there, and the node producing it (null for a model input from input()).
 */
export class SymbolicTensor {
  private static count = 0;
  /** Unique per symbolic tensor: the graph's key for it. */
  readonly id = SymbolicTensor.count++;
  constructor(
    readonly shape: LayerShape,
    readonly dtype: 'float32' | 'int32',
    readonly node: GraphNode | null,
    readonly outputIndex: number,
    readonly name: string,
  ) {}
  toString(): string {
    return `SymbolicTensor ${this.name} [batch, ${this.shape.map((d) => d ?? 'any').join(', ')}]`;
  }
}

/** The shape check of apply(): known dimensions and rank must agree. */
function sameShape(a: LayerShape, b: LayerShape): boolean {
  return a.length === b.length && a.every((d, i) => d === null || b[i] === null || d === b[i]);
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

  /** The calls of this layer in functional graphs (a shared layer has several). */
  readonly inboundNodes: GraphNode[] = [];

  /**
   * Functional API: wires this layer to symbolic inputs (from input() or another layer's apply())
   * and returns its symbolic output, or an array of them for several outputs (a GRU with
   * returnState: [output, ...states]). Applying a layer twice shares its weights.
   */
  apply(inputs: SymbolicTensor | SymbolicTensor[]): SymbolicTensor | SymbolicTensor[] {
    this.assertLive('apply');
    const fn = `${this.name}.apply`;
    const list = Array.isArray(inputs) ? inputs : [inputs];
    if (!list.length) fail(fn, `argument 'inputs' must be a symbolic tensor or a non-empty array of them, got an empty array`);
    list.forEach((t, i) => {
      if (!(t instanceof SymbolicTensor)) fail(fn, `argument 'inputs'${Array.isArray(inputs) ? `[${i}]` : ''} must be a symbolic tensor (from input() or another layer's apply()), got ${describe(t)}; to run a layer on tensors use model.predict() (or gru.call())`);
    });
    const shapes = this.outputShapesFor(list.map((t) => t.shape));
    const node: GraphNode = { layer: this, inputs: list, outputs: [] };
    shapes.forEach((shape, i) => node.outputs.push(new SymbolicTensor(shape, 'float32', node, i, `${this.name}${this.inboundNodes.length ? `_${this.inboundNodes.length}` : ''}${shapes.length > 1 ? `:${i}` : ''}`)));
    this.inboundNodes.push(node);
    return node.outputs.length === 1 ? node.outputs[0]! : node.outputs;
  }

  /**
   * Output shapes for the given input shapes (builds the layer on the first call). One input and
   * one output here; merge layers and the GRU (initial states in, states out) override it.
   */
  outputShapesFor(inputShapes: LayerShape[]): LayerShape[] {
    if (inputShapes.length !== 1) fail(`${this.name}.apply`, `takes one input, got ${inputShapes.length}`);
    const shape = inputShapes[0]!;
    if (this.built && !sameShape(this.inputShape!, shape)) fail(`${this.name}.apply`, `was built for inputs [batch, ${this.inputShape!.map((d) => d ?? 'any').join(', ')}] and cannot take [batch, ${shape.map((d) => d ?? 'any').join(', ')}]`);
    return [this.build(shape)];
  }

  /** One graph node's forward: its input tensors in, its outputs out. */
  forwardNode(inputs: Tensor[], ctx: CallContext): Tensor[] {
    return [this.forward(inputs[0]!, ctx)];
  }

  /**
   * One graph node's backward: the gradients of its outputs (null where no consumer sent one; the
   * graph runs it only when one did) to those of its inputs.
   */
  backwardNode(dOutputs: Array<Tensor | null>): Array<Tensor | null> {
    return [this.backward(dOutputs[0]!)];
  }

  /** What forward kept for backward; a graph holds one per call of a shared layer. */
  protected saved: unknown = null;

  /** Takes what the last forward kept (the layer keeps nothing). */
  detachSaved(): unknown {
    const s = this.saved;
    this.saved = null;
    return s;
  }

  /** Puts back what detachSaved() took, before the matching backward. */
  attachSaved(saved: unknown): void {
    this.saved = saved;
  }
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
  clearSaved(): void {
    this.saved = null;
  }

  dispose(): void {
    this.clearSaved();
    for (const p of this.paramList) p.value.dispose();
    this.paramList = [];
    this.built = false;
    this.disposed = true;
  }
}

