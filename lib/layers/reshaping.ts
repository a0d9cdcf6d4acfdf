// Reshaping layers: repeatVector ([batch, F] → [batch, n, F], the classic seq2seq bridge),
// reshape (to a target shape without the batch dimension) and flatten ([batch, ...] → [batch, size]).
import { describe } from '../backend';
import * as ops from '../ops';
import { shapeSize, type Tensor } from '../tensor';
import { Layer, fail, positiveInt, type CallContext, type LayerArgs, type LayerShape } from './base';

const known = (s: LayerShape) => s.every((d) => d !== null);

export class RepeatVector extends Layer {
  readonly n: number;
  protected override saved: { features: number } | null = null;
  constructor(args: LayerArgs & { n: number }) {
    super('RepeatVector', args, { fn: 'repeatVector', keys: ['n'] });
    this.n = positiveInt('repeatVector', 'n', args.n);
  }
  protected doBuild(inputShape: LayerShape): LayerShape {
    if (inputShape.length !== 1 || inputShape[0] === null) fail(this.name, `inputs must be [batch, features] with known features, got [batch, ${inputShape.join(', ')}]`);
    return [this.n, inputShape[0]!];
  }
  forward(x: Tensor, ctx: CallContext): Tensor {
    if (x.rank !== 2) fail(this.name, `inputs must be [batch, features], got [${x.shape}]`);
    const [batch, features] = x.shape as [number, number];
    if (ctx.training) this.saved = { features };
    ctx.lengths = null;
    return ops.concatLast(new Array(this.n).fill(x)).reshape([batch, this.n, features]);
  }
  backward(dy: Tensor): Tensor {
    if (!this.saved) throw new Error(`${this.name}: backward() needs a training-mode forward first`);
    const { features } = this.saved;
    const batch = dy.shape[0]!;
    const flat = dy.reshape([batch, this.n * features]);
    let dx = ops.sliceLast(flat, 0, features);
    for (let t = 1; t < this.n; t++) dx = ops.add(dx, ops.sliceLast(flat, t * features, features));
    this.saved = null;
    return dx;
  }
}

export class Reshape extends Layer {
  readonly targetShape: number[];
  protected override saved: { shape: readonly number[] } | null = null;
  constructor(args: LayerArgs & { targetShape: number[] }) {
    super('Reshape', args, { fn: 'reshape', keys: ['targetShape'] });
    const t = args.targetShape;
    if (!Array.isArray(t) || !t.length || !t.every((d) => Number.isInteger(d) && d > 0)) fail('reshape', `'targetShape' must be a non-empty array of positive integers (without the batch dimension; -1 is not supported), got ${describe(t)}`);
    this.targetShape = [...t];
  }
  protected doBuild(inputShape: LayerShape): LayerShape {
    if (!known(inputShape)) fail(this.name, `inputs must have a known shape, got [batch, ${inputShape.map((d) => d ?? 'any').join(', ')}]`);
    if (shapeSize(inputShape as number[]) !== shapeSize(this.targetShape)) fail(this.name, `cannot reshape [batch, ${inputShape.join(', ')}] to [batch, ${this.targetShape.join(', ')}]: the sizes differ`);
    return [...this.targetShape];
  }
  forward(x: Tensor, ctx: CallContext): Tensor {
    if (ctx.training) this.saved = { shape: x.shape };
    ctx.lengths = null;
    return x.reshape([x.shape[0]!, ...this.targetShape]);
  }
  backward(dy: Tensor): Tensor {
    if (!this.saved) throw new Error(`${this.name}: backward() needs a training-mode forward first`);
    const dx = dy.reshape([...this.saved.shape]);
    this.saved = null;
    return dx;
  }
}

export class Flatten extends Layer {
  protected override saved: { shape: readonly number[] } | null = null;
  constructor(args: LayerArgs = {}) {
    super('Flatten', args, { fn: 'flatten', keys: [], refused: { dataFormat: 'inputs are channels-last; there is nothing to reorder' } });
  }
  protected doBuild(inputShape: LayerShape): LayerShape {
    if (!known(inputShape)) fail(this.name, `inputs must have a known shape, got [batch, ${inputShape.map((d) => d ?? 'any').join(', ')}]`);
    return [shapeSize(inputShape as number[])];
  }
  forward(x: Tensor, ctx: CallContext): Tensor {
    if (ctx.training) this.saved = { shape: x.shape };
    ctx.lengths = null;
    return x.reshape([x.shape[0]!, x.size / x.shape[0]!]);
  }
  backward(dy: Tensor): Tensor {
    if (!this.saved) throw new Error(`${this.name}: backward() needs a training-mode forward first`);
    const dx = dy.reshape([...this.saved.shape]);
    this.saved = null;
    return dx;
  }
}
