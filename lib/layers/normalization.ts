// Layer normalization over the last axis (Keras' LayerNormalization defaults: epsilon 1e-3,
// center and scale on): y = (x − mean) / √(var + ε) · gamma + beta per row, with the biased
// variance. Forward and backward run on the row-reduction (ops.mean over the last axis) and
// row/column broadcasting kernels.
import { describe } from '../backend';
import { tidy } from '../engine';
import * as ops from '../ops';
import type { Tensor } from '../tensor';
import { Layer, NO_CONSTRAINTS, NO_REGULARIZERS, fail, flag, initializerName, unsupported, type CallContext, type LayerArgs, type LayerShape } from './base';
import { initialValues, type InitializerName } from './initializers';

export interface LayerNormalizationArgs extends LayerArgs {
  /** The normalised axis: only the last (-1, Keras' default) is supported. */
  axis?: number;
  epsilon?: number;
  /** Add the learned offset beta (default true). */
  center?: boolean;
  /** Multiply by the learned gain gamma (default true). */
  scale?: boolean;
  betaInitializer?: InitializerName;
  gammaInitializer?: InitializerName;
}

export class LayerNormalization extends Layer {
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  private betaInit: InitializerName;
  private gammaInit: InitializerName;
  protected override saved: { xhat: Tensor; rstd: Tensor } | null = null;

  constructor(args: LayerNormalizationArgs = {}) {
    super('LayerNormalization', args, {
      fn: 'layerNormalization',
      keys: ['axis', 'epsilon', 'center', 'scale', 'betaInitializer', 'gammaInitializer'],
      refused: {
        ...unsupported(['betaRegularizer', 'gammaRegularizer'], NO_REGULARIZERS),
        ...unsupported(['betaConstraint', 'gammaConstraint'], NO_CONSTRAINTS),
        rmsScaling: 'RMS scaling is not implemented (only the mean-and-variance normalisation)',
      },
    });
    const fn = 'layerNormalization';
    if (args.axis !== undefined && args.axis !== -1) fail(fn, `'axis' must be -1 (the last axis; other axes are not implemented), got ${describe(args.axis)}`);
    const eps = args.epsilon ?? 1e-3;
    if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps)) fail(fn, `'epsilon' must be a positive number, got ${describe(args.epsilon)}`);
    this.epsilon = eps;
    this.center = flag(fn, 'center', args.center, true);
    this.scale = flag(fn, 'scale', args.scale, true);
    this.betaInit = initializerName(fn, 'betaInitializer', args.betaInitializer, 'zeros');
    this.gammaInit = initializerName(fn, 'gammaInitializer', args.gammaInitializer, 'ones');
  }

  /** The learned gain (null without scale). */
  get gamma() {
    return this.scale ? this.params[0]! : null;
  }
  /** The learned offset (null without center). */
  get beta() {
    return this.center ? this.params[this.scale ? 1 : 0]! : null;
  }

  protected doBuild(inputShape: LayerShape): LayerShape {
    const dim = inputShape[inputShape.length - 1];
    if (typeof dim !== 'number') fail(this.name, `the last input dimension must be known, got [${inputShape}]`);
    if (this.scale) this.addParam('gamma', [dim], initialValues(this.gammaInit, [dim], dim, dim));
    if (this.center) this.addParam('beta', [dim], initialValues(this.betaInit, [dim], dim, dim));
    return inputShape;
  }

  forward(x: Tensor, ctx: CallContext): Tensor {
    const dim = this.inputShape![this.inputShape!.length - 1];
    if (x.rank < 2 || x.shape[x.rank - 1] !== dim) fail(this.name, `expected inputs with last dimension ${dim}, got shape [${x.shape}]`);
    const { y, xhat, rstd } = tidy(() => {
      // x − mean is exact near the mean, but the float32 mean itself is rounded by up to half an
      // ulp of |mean|, a per-row shift that dominates x̂ when |mean| ≫ std; the mean of the
      // residual (small, so accurately rounded) takes it out again.
      const shifted = ops.broadcastOp('sub', x, ops.mean(x, -1), 'rows');
      const xc = ops.broadcastOp('sub', shifted, ops.mean(shifted, -1), 'rows');
      const rstd = ops.div(1, ops.sqrt(ops.add(ops.mean(ops.square(xc), -1), this.epsilon)));
      const xhat = ops.broadcastOp('mul', xc, rstd, 'rows');
      let y = this.gamma ? ops.broadcastOp('mul', xhat, this.gamma.value, 'columns') : xhat;
      if (this.beta) y = y === xhat ? ops.biasAdd(xhat, this.beta.value) : ops.biasAdd_(y, this.beta.value); // x̂ stays for backward
      return { y, xhat, rstd };
    });
    if (ctx.training) {
      this.saved = { xhat, rstd };
    } else {
      rstd.dispose();
      if (xhat !== y) xhat.dispose();
    }
    return y;
  }

  backward(dy: Tensor): Tensor {
    const s = this.saved;
    if (!s) throw new Error(`${this.name}: backward() needs a training-mode forward first`);
    const { xhat, rstd } = s;
    const gamma = this.gamma, beta = this.beta;
    if (gamma) this.setGrad(gamma, ops.columnSums(ops.mul(dy, xhat)));
    if (beta) this.setGrad(beta, ops.columnSums(dy));
    // dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·gamma, per row.
    const dx = tidy(() => {
      const g = gamma ? ops.broadcastOp('mul', dy, gamma.value, 'columns') : dy;
      const centred = ops.broadcastOp('sub', g, ops.mean(g, -1), 'rows');
      const along = ops.broadcastOp('mul', xhat, ops.mean(ops.mul(g, xhat), -1), 'rows');
      return ops.broadcastOp('mul', ops.sub(centred, along), rstd, 'rows');
    });
    this.saved = null;
    return dx;
  }
}
