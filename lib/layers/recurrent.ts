// The GRU layer on the fused engines (cuDNN, and the CPU engine computing the same maths).
import { describe } from '../backend';
import { keep } from '../engine';
import * as ops from '../ops';
import { gru as gruOp, gruParamShapes, type GruResult } from '../ops/gru';
import { checkOptions } from '../options';
import { globalRng } from '../random';
import { Tensor } from '../tensor';
import { Layer, NO_CONSTRAINTS, NO_REGULARIZERS, fail, flag, positiveInt, rate, unsupported, type CallContext, type LayerArgs, type LayerShape } from './base';
import { initialValues } from './initializers';


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
  protected override saved: { res: GruResult; lengths: Int32Array | null; merged: Tensor | null; yf: Tensor | null; yb: Tensor | null; batch: number; seqLen: number; initialStates: number } | null = null;

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
    if (ctx.training) this.saved = { res, lengths, merged: out, yf, yb, batch, seqLen, initialStates: initialState === undefined ? 0 : Array.isArray(initialState) ? initialState.length : 1 };
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
    return this.returnState ? [out, ...this.finalStates(x.shape[0]!)] : out;
  }

  /** The last layer's final state per direction ([batch, units] each), from the last forward. */
  private finalStates(batch: number): Tensor[] {
    const D = this.directions;
    return Array.from({ length: D }, (_, d) => ops.sliceFirst(this.lastStates!, (this.numLayers - 1) * D + d, 1).reshape([batch, this.units]));
  }

  /** Graph inputs: [x, ...initial states] (numLayers·directions of [units]); outputs: [output, ...final states] with returnState. */
  override outputShapesFor(inputShapes: LayerShape[]): LayerShape[] {
    const [x, ...states] = inputShapes;
    const want = this.numLayers * this.directions;
    if (states.length && (states.length !== want || states.some((s) => s.length !== 1 || s[0] !== this.units))) {
      fail(`${this.name}.apply`, `initial states must be ${want} tensors of shape [batch, ${this.units}] (one per layer and direction), got ${states.map((s) => `[batch, ${s.join(', ')}]`).join(', ')}`);
    }
    const out = super.outputShapesFor([x!]);
    return this.returnState ? [...out, ...Array.from({ length: this.directions }, () => [this.units])] : out;
  }

  override forwardNode(inputs: Tensor[], ctx: CallContext): Tensor[] {
    const [x, ...states] = inputs;
    const out = this.forward(x!, ctx, states.length ? states : undefined);
    return this.returnState ? [out, ...this.finalStates(x!.shape[0]!)] : [out];
  }

  override backwardNode(dOutputs: Array<Tensor | null>): Array<Tensor | null> {
    const [dy, ...dStates] = dOutputs;
    const { dx, dh0, batch, initialStates } = this.backwardAll(dy ?? null, dStates);
    return [dx, ...Array.from({ length: initialStates }, (_, i) => ops.sliceFirst(dh0, i, 1).reshape([batch, this.units]))];
  }

  backward(dy: Tensor): Tensor {
    return this.backwardAll(dy, []).dx;
  }

  /**
   * Gradients from the output's (dy) and the final states' (dStates, last layer, one per
   * direction; null where none came) cotangents: dx, and dh0 for the initial states.
   */
  private backwardAll(dy: Tensor | null, dStates: Array<Tensor | null>): { dx: Tensor; dh0: Tensor; batch: number; initialStates: number } {
    const s = this.saved;
    if (!s) throw new Error(`${this.name}: backward() needs a training-mode forward first`);
    const { batch } = s;
    const L = this.numLayers, D = this.directions, H = this.units;
    let dWide = dy; // gradient w.r.t. the concatenated [.., D·H] output
    if (dy && D === 2 && this.mergeMode !== 'concat') {
      let df: Tensor, db: Tensor;
      if (this.mergeMode === 'sum') df = db = dy;
      else if (this.mergeMode === 'ave') df = db = ops.scale(dy, 0.5);
      else {
        df = ops.mul(dy, s.yb!);
        db = ops.mul(dy, s.yf!);
      }
      dWide = ops.concatLast([df, db]);
    }
    // The last layer's final state per direction gets the state outputs' gradients, and the
    // output's when the output is that state (returnSequences false).
    const stateGrads = Array.from({ length: D }, (_, d) => {
      const fromOutput = !this.returnSequences && dWide ? ops.sliceLast(dWide, d * H, H) : null;
      const fromState = dStates[d] ?? null;
      return fromOutput && fromState ? ops.add(fromOutput, fromState) : (fromOutput ?? fromState);
    });
    let dhN: Tensor | null = null;
    if (stateGrads.some((g) => g)) {
      dhN = ops.empty([L * D, batch, H], s.res.output.device);
      stateGrads.forEach((g, d) => g && ops.writeFirst_(dhN!, g.reshape([1, batch, H]), (L - 1) * D + d));
    }
    const g = s.res.backward(this.returnSequences ? dWide : null, dhN);
    for (const p of this.params) this.setGrad(p, g.dParams[p.name.slice(this.name.length + 1)]!);
    this.saved = null;
    return { dx: this.goBackwards ? ops.reverseTime(g.dx, s.lengths) : g.dx, dh0: g.dh0, batch, initialStates: s.initialStates };
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

