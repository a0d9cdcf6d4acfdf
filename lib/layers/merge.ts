// Merge layers of the functional API: concatenate (last axis), add, multiply, average. They take
// a list of symbolic inputs (layer.apply([a, b, ...])) of equal shapes (concatenate: equal but
// for the last dimension); the graph passes on the padding lengths of the first masked input.
import { describe } from '../backend';
import * as ops from '../ops';
import type { Tensor } from '../tensor';
import { Layer, fail, type CallContext, type LayerArgs, type LayerShape } from './base';

const show = (s: LayerShape) => `[batch, ${s.map((d) => d ?? 'any').join(', ')}]`;
const LIST_ONLY = 'a merge layer takes a list of inputs: use it in a functional model (layer.apply([a, b]))';

abstract class Merge extends Layer {
  /** The inputs of the last training-mode forward (multiply needs their values; the others their count). */
  protected override saved: Tensor[] | null = null;

  protected doBuild(inputShape: LayerShape): LayerShape {
    return inputShape;
  }

  /** The output shape for inputs of equal ranks. */
  protected abstract mergedShape(inputShapes: LayerShape[]): LayerShape;
  protected abstract merge(inputs: Tensor[]): Tensor;
  protected abstract split(dy: Tensor, inputs: Tensor[]): Tensor[];

  override outputShapesFor(inputShapes: LayerShape[]): LayerShape[] {
    if (inputShapes.length < 2) fail(`${this.name}.apply`, `merges two or more inputs (an array of symbolic tensors), got ${inputShapes.length}`);
    if (inputShapes.some((s) => s.length !== inputShapes[0]!.length)) fail(`${this.name}.apply`, `inputs must have equal ranks, got ${inputShapes.map(show).join(', ')}`);
    const shape = this.mergedShape(inputShapes);
    if (!this.built) {
      this.inputShape = [...inputShapes[0]!];
      this.outputShape = shape;
      this.built = true;
    }
    return [shape];
  }

  forward(): Tensor {
    fail(this.name, LIST_ONLY);
  }
  backward(): Tensor {
    fail(this.name, LIST_ONLY);
  }

  override forwardNode(inputs: Tensor[], ctx: CallContext): Tensor[] {
    const first = inputs[0]!;
    const concat = this instanceof Concatenate;
    for (const t of inputs) {
      if (t.rank !== first.rank || t.shape.some((d, i) => d !== first.shape[i] && !(concat && i === t.rank - 1))) {
        fail(this.name, `inputs must have equal shapes${concat ? ' but for the last dimension' : ''}, got [${inputs.map((x) => x.shape.join(', ')).join('], [')}]`);
      }
    }
    if (ctx.training) this.saved = inputs;
    return [this.merge(inputs)];
  }

  override backwardNode(dOutputs: Array<Tensor | null>): Array<Tensor | null> {
    const inputs = this.saved;
    if (!inputs) throw new Error(`${this.name}: backward() needs a training-mode forward first`);
    this.saved = null;
    return this.split(dOutputs[0]!, inputs);
  }
}

/** Elementwise merges: inputs of one shape. */
abstract class Elementwise extends Merge {
  protected mergedShape(inputShapes: LayerShape[]): LayerShape {
    const out = inputShapes[0]!.map((d, i) => d ?? inputShapes.find((s) => s[i] !== null)?.[i] ?? null);
    if (inputShapes.some((s) => s.some((d, i) => d !== null && d !== out[i]))) fail(`${this.name}.apply`, `inputs must have equal shapes, got ${inputShapes.map(show).join(', ')}`);
    return out;
  }
}

const sum = (xs: Tensor[]) => xs.slice(1).reduce((a, b) => ops.add(a, b), xs[0]!);

export class Add extends Elementwise {
  constructor(args: LayerArgs = {}) {
    super('Add', args, { fn: 'add', keys: [] });
  }
  protected merge(inputs: Tensor[]): Tensor {
    return sum(inputs);
  }
  protected split(dy: Tensor, inputs: Tensor[]): Tensor[] {
    return inputs.map(() => dy);
  }
}

export class Average extends Elementwise {
  constructor(args: LayerArgs = {}) {
    super('Average', args, { fn: 'average', keys: [] });
  }
  protected merge(inputs: Tensor[]): Tensor {
    return ops.scale(sum(inputs), 1 / inputs.length);
  }
  protected split(dy: Tensor, inputs: Tensor[]): Tensor[] {
    const d = ops.scale(dy, 1 / inputs.length);
    return inputs.map(() => d);
  }
}

export class Multiply extends Elementwise {
  constructor(args: LayerArgs = {}) {
    super('Multiply', args, { fn: 'multiply', keys: [] });
  }
  protected merge(inputs: Tensor[]): Tensor {
    return inputs.slice(1).reduce((a, b) => ops.mul(a, b), inputs[0]!);
  }
  /** d/dxᵢ of Πⱼ xⱼ is the product of the others. */
  protected split(dy: Tensor, inputs: Tensor[]): Tensor[] {
    return inputs.map((_, i) => inputs.reduce((acc, x, j) => (j === i ? acc : ops.mul(acc, x)), dy));
  }
}

export class Concatenate extends Merge {
  constructor(args: LayerArgs & { axis?: number } = {}) {
    super('Concatenate', args, { fn: 'concatenate', keys: ['axis'] });
    // Features are the last axis everywhere in this library; other axes are not implemented.
    if (args.axis !== undefined && args.axis !== -1) fail('concatenate', `'axis' must be -1 (the last axis; other axes are not implemented), got ${describe(args.axis)}`);
  }
  protected mergedShape(inputShapes: LayerShape[]): LayerShape {
    const first = inputShapes[0]!;
    const last = first.length - 1;
    if (last < 0 || inputShapes.some((s) => s[last] === null)) fail(`${this.name}.apply`, `the last dimension of every input must be known, got ${inputShapes.map(show).join(', ')}`);
    const out = first.map((d, i) => (i === last ? inputShapes.reduce((a, s) => a + (s[last] as number), 0) : (d ?? inputShapes.find((s) => s[i] !== null)?.[i] ?? null)));
    if (inputShapes.some((s) => s.some((d, i) => i !== last && d !== null && d !== out[i]))) fail(`${this.name}.apply`, `inputs must have equal shapes but for the last dimension, got ${inputShapes.map(show).join(', ')}`);
    return out;
  }
  protected merge(inputs: Tensor[]): Tensor {
    return ops.concatLast(inputs);
  }
  protected split(dy: Tensor, inputs: Tensor[]): Tensor[] {
    let start = 0;
    return inputs.map((x) => {
      const width = x.shape[x.rank - 1]!;
      const d = ops.sliceLast(dy, start, width);
      start += width;
      return d;
    });
  }
}
