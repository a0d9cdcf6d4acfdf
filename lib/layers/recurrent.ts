// The recurrent layers on the fused engines (cuDNN, and the CPU engine computing the same maths):
// GRU, LSTM and SimpleRNN. One base class (FusedRecurrent) holds everything they share: the
// options, initial and carried (stateful) states, masking, goBackwards, the bidirectional merge,
// returnState and backward. A subclass names its cell: the op it runs, its Keras options and its
// initial weights.
import { describe } from '../backend';
import { keep, tidy } from '../engine';
import * as ops from '../ops';
import { gru as gruOp, gruParamShapes } from '../ops/gru';
import { lstm as lstmOp, lstmParamShapes } from '../ops/lstm';
import type { RecurrentOptions, RecurrentParams, RecurrentResult } from '../ops/recurrent';
import { rnn as rnnOp, rnnParamShapes } from '../ops/rnn';
import { checkOptions } from '../options';
import { globalRng } from '../random';
import { Tensor } from '../tensor';
import { Layer, NO_CONSTRAINTS, NO_REGULARIZERS, fail, flag, positiveInt, rate, unsupported, type CallContext, type LayerArgs, type LayerShape } from './base';
import { initialValues } from './initializers';


export type MergeMode = 'concat' | 'sum' | 'mul' | 'ave';
const MERGE_MODES: readonly MergeMode[] = ['concat', 'sum', 'mul', 'ave'];

/** [batch, H] states per layer and direction (slot l·D + d; null: zeros) as one [slots, batch, H] tensor. */
function packStates(slots: Array<Tensor | null>, batch: number, H: number, device: Tensor['device']): Tensor {
  const packed = ops.empty([slots.length, batch, H], device);
  slots.forEach((t, slot) => t && ops.writeFirst_(packed, t.reshape([1, batch, H]), slot));
  return packed;
}

/** A checked mergeMode ('concat' when not given); errors name `fn`. */
export function mergeModeOf(fn: string, value: unknown): MergeMode {
  const mode = value ?? 'concat';
  if (!MERGE_MODES.includes(mode as MergeMode)) fail(fn, `'mergeMode' must be one of ${MERGE_MODES.map((m) => `'${m}'`).join(', ')}, got ${describe(value)}`);
  return mode as MergeMode;
}

/** The options every recurrent layer takes. */
export interface RecurrentArgs extends LayerArgs {
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
  /**
   * 'keras' (glorotUniform kernel, orthogonal recurrent, zero biases; default) or 'pytorch'
   * (U(±1/√H) everywhere). LSTM and SimpleRNN: with 'keras' only bias_ih trains (Keras' one bias
   * vector; bias_hh is a frozen zero), with 'pytorch' both do (nn.LSTM / nn.RNN).
   */
  initializer?: 'keras' | 'pytorch';
}

export type GruArgs = RecurrentArgs;

export interface LstmArgs extends RecurrentArgs {
  /**
   * Keras' unit_forget_bias: add 1 to the forget gate's bias (bias_ih) at initialisation. Default
   * true with initializer 'keras' (Keras' default), false with 'pytorch' (nn.LSTM has none).
   */
  unitForgetBias?: boolean;
}

export interface SimpleRnnArgs extends RecurrentArgs {
  /** 'tanh' (default) or 'relu': cuDNN's two RNN modes (nn.RNN's nonlinearity). */
  activation?: 'tanh' | 'relu';
}

/** The options every fused recurrent layer takes (besides name, trainable, inputShape). */
const RECURRENT_KEYS = ['units', 'returnSequences', 'returnState', 'bidirectional', 'mergeMode', 'numLayers', 'dropout', 'goBackwards', 'stateful', 'initializer'];

type FixedOptions = Record<string, { value: unknown; reason: string }>;

/** Why a Keras option is fixed: the engines compute cuDNN's `cell` and nothing else. */
const fused = (cell: string) => `the fused ${cell} engines (cuDNN and the CPU engine) compute the cuDNN ${cell} only`;

/** Keras options no fused recurrent layer implements, refused with the reason. */
const REFUSED: Record<string, string> = {
  ...unsupported(['kernelInitializer', 'recurrentInitializer', 'biasInitializer'], "choose the initial weights with initializer: 'keras' (glorotUniform, orthogonal, zeros) or 'pytorch' (U(±1/√H)), or set them with setWeights()"),
  ...unsupported(['kernelRegularizer', 'recurrentRegularizer', 'biasRegularizer', 'activityRegularizer'], NO_REGULARIZERS),
  ...unsupported(['kernelConstraint', 'recurrentConstraint', 'biasConstraint'], NO_CONSTRAINTS),
  timeMajor: 'inputs are batch-major [batch, timesteps, features]',
};

/** Options every cell accepts only at the engine's value (`cell` names it in the reasons). */
function fixedOptions(cell: string): FixedOptions {
  return {
    recurrentDropout: { value: 0, reason: `${fused(cell)}, which has no dropout on the recurrent state (use dropout between stacked layers, or a dropout layer)` },
    unroll: { value: false, reason: `${fused(cell)}, which runs the whole sequence in one call (nothing to unroll)` },
    useBias: { value: true, reason: `${fused(cell)}, which always has both bias vectors (set them to zero and freeze the layer to do without)` },
  };
}

/** The cell: nn.GRU, nn.LSTM or nn.RNN (cuDNN's CUDNN_GRU, CUDNN_LSTM, CUDNN_RNN_TANH/RELU). */
export type RecurrentCell = 'gru' | 'lstm' | 'rnn';

/** What a subclass tells the base about its cell. */
interface CellSpec {
  /** The factory's name, used in error messages ('gru'). */
  fn: string;
  /** The class name (Keras'; saved models use it). */
  className: string;
  /** PyTorch's module: nn.GRU, nn.LSTM, nn.RNN. */
  cell: RecurrentCell;
  /** The cuDNN cell, in reasons for refused options ('GRU', 'LSTM', 'RNN'). */
  engine: string;
  /** Gate blocks per weight matrix (rows = gates·units). */
  gates: number;
  /** The state tensors per layer and direction: ['h'], or the LSTM's ['h', 'c']. */
  states: readonly ('h' | 'c')[];
  /** Options accepted only at the value the engine computes, besides fixedOptions()'. */
  fixed: FixedOptions;
  /**
   * Keras' cell has one bias vector (LSTM, SimpleRNN; a reset_after GRU has two): with initializer
   * 'keras' bias_hh stays a frozen zero (the engines take PyTorch's two), so that training updates
   * the bias as Keras does; with 'pytorch' both train, as in nn.LSTM / nn.RNN.
   */
  kerasOneBias: boolean;
  /** Options of this cell beyond RECURRENT_KEYS. */
  keys: string[];
  paramShapes(inputSize: number, hiddenSize: number, numLayers: number, bidirectional: boolean): Record<string, number[]>;
}

/** What forward keeps for backward (one per call of the layer in a graph). */
interface Saved {
  res: RecurrentResult;
  lengths: Int32Array | null;
  yf: Tensor | null;
  yb: Tensor | null;
  batch: number;
  initialStates: number;
  /** Whether the forward asked for dx (ctx.inputGradient); without it backward() has none to give. */
  inputGradient: boolean;
}

/**
 * A recurrent network (numLayers stacked, one or two directions) run by one fused engine call.
 * Parameters are kept in PyTorch's layout under PyTorch's names (`pytorchParams()`): the layer is
 * nn.GRU / nn.LSTM / nn.RNN with Keras' options around it.
 */
export abstract class FusedRecurrent extends Layer {
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
  /** The cell (a SimpleRNN's activation is its `activation`). */
  readonly cell: RecurrentCell;
  /** The cell's gate blocks per weight matrix: 3 (GRU, r z n), 4 (LSTM, i f g o), 1 (simple RNN). */
  readonly gates: number;
  /** The state tensors per layer and direction: ['h'], or ['h', 'c'] for the LSTM. */
  readonly stateKinds: readonly ('h' | 'c')[];
  private readonly shapesOf: CellSpec['paramShapes'];
  private readonly kerasOneBias: boolean;
  private inputSize = 0;
  /** A stateful layer's carried states (one [L·D, batch, H] tensor per state kind). */
  private state: Tensor[] | null = null;
  private previousState: Tensor[] | null = null;
  protected override saved: Saved | null = null;
  /** The final states of the last forward (one [L·D, batch, H] tensor per state kind); for returnState. */
  private lastStates: Tensor[] | null = null;

  protected constructor(cell: CellSpec, args: RecurrentArgs) {
    const given = (typeof args === 'object' && args !== null ? args : {}) as Record<string, unknown>;
    // Fixed options are fine at the value the engine computes (e.g. activation: 'tanh').
    const fixed = { ...cell.fixed, ...fixedOptions(cell.engine) };
    const refused: Record<string, string> = { ...REFUSED, implementation: `${fused(cell.engine)}; there is no other implementation to choose` };
    for (const [k, { value, reason }] of Object.entries(fixed)) if (given[k] !== undefined && given[k] !== value) refused[k] = `${reason}; got ${describe(given[k])}`;
    super(cell.className, args, { fn: cell.fn, keys: [...RECURRENT_KEYS, ...cell.keys, ...Object.keys(fixed)], refused });
    const fn = cell.fn;
    this.cell = cell.cell;
    this.gates = cell.gates;
    this.stateKinds = cell.states;
    this.shapesOf = cell.paramShapes;
    this.kerasOneBias = cell.kerasOneBias;
    this.units = positiveInt(fn, 'units', args.units);
    this.returnSequences = flag(fn, 'returnSequences', args.returnSequences, false);
    this.returnState = flag(fn, 'returnState', args.returnState, false);
    this.bidirectional = flag(fn, 'bidirectional', args.bidirectional, false);
    this.mergeMode = mergeModeOf(fn, args.mergeMode);
    this.numLayers = args.numLayers === undefined ? 1 : positiveInt(fn, 'numLayers', args.numLayers);
    this.dropout = rate(fn, 'dropout', args.dropout);
    if (this.dropout > 0 && this.numLayers === 1) {
      fail(fn, `'dropout' applies between stacked layers (cuDNN's dropout), and with numLayers: 1 there are none, so it would do nothing; for Keras' dropout on the inputs put layers.dropout() before the ${cell.className}`);
    }
    this.goBackwards = flag(fn, 'goBackwards', args.goBackwards, false);
    this.stateful = flag(fn, 'stateful', args.stateful, false);
    this.initializer = args.initializer ?? 'keras';
    if (this.initializer !== 'keras' && this.initializer !== 'pytorch') fail(fn, `'initializer' must be 'keras' or 'pytorch', got ${describe(args.initializer)}`);
  }

  /** The engine call of this cell. */
  protected abstract run(x: Tensor, params: RecurrentParams, options: RecurrentOptions & { c0?: Tensor }): RecurrentResult;

  /**
   * The layer's options (as its factory takes them, without name/trainable/inputShape): what a
   * saved model stores and bidirectional() copies. returnState only when set (sequential
   * topologies saved before it existed stay the same).
   */
  getConfig(): RecurrentArgs {
    return {
      units: this.units, returnSequences: this.returnSequences, bidirectional: this.bidirectional, mergeMode: this.mergeMode,
      numLayers: this.numLayers, dropout: this.dropout, goBackwards: this.goBackwards, stateful: this.stateful, initializer: this.initializer,
      ...(this.returnState ? { returnState: true } : {}),
    };
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
    for (const [name, shape] of Object.entries(this.shapesOf(this.inputSize, this.units, this.numLayers, this.bidirectional))) {
      const p = this.addParam(name, shape, this.initialParam(name, shape));
      if (this.kerasOneBias && this.initializer === 'keras' && name.startsWith('bias_hh')) p.trainable = false;
    }
    return this.returnSequences ? [inputShape[0]!, this.outWidth] : [this.outWidth];
  }

  /** Initial values of the parameter `name` (PyTorch's name and layout). */
  protected initialParam(name: string, shape: number[]): Float32Array {
    const H = this.units;
    if (this.initializer === 'pytorch') return initialValues('pytorch', shape, H, H, 1 / Math.sqrt(H));
    // Keras: kernel [in, g·H] glorotUniform, recurrent kernel [H, g·H] orthogonal (ours are their transposes).
    if (name.startsWith('weight_ih')) return initialValues('glorotUniform', shape, shape[1]!, shape[0]!);
    if (name.startsWith('weight_hh')) return initialValues('orthogonal', shape, H, this.gates * H);
    return initialValues('zeros', shape, 0, 0);
  }

  /**
   * The parameters by PyTorch's names (weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k},
   * `_reverse`), in PyTorch's layout and gate order (GRU r z n, LSTM i f g o): exactly what
   * nn.GRU / nn.LSTM / nn.RNN's state dict holds and ops.gru/lstm/rnn take. The tensors are the
   * layer's own (do not dispose them).
   */
  pytorchParams(): RecurrentParams {
    const out: RecurrentParams = {};
    for (const p of this.params) out[p.name.slice(this.name.length + 1)] = p.value;
    return out;
  }

  /** Clears the carried state of a stateful layer. */
  resetStates(): void {
    for (const t of [...(this.state ?? []), ...(this.previousState ?? [])]) t.dispose();
    this.state = null;
    this.previousState = null;
  }

  /** The description of what initialState takes, for errors. */
  private initialStateForms(): string {
    const L = this.numLayers, D = this.directions, H = this.units, S = this.stateKinds.length;
    const kinds = S === 1 ? '' : ` (${this.stateKinds.join(', ')} for each)`;
    return `${L * D * S} tensors of shape [batch, ${H}]${kinds} (or ${S === 1 ? 'one' : S} [${L * D}, batch, ${H}])`;
  }

  /**
   * Initial states as the engine takes them (one [L·D, batch, H] per state kind), from the
   * per-layer-and-direction tensors ([batch, H] each; an LSTM's h then c for each) or the packed form.
   */
  private engineStates(given: Tensor | Tensor[], batch: number, device: Tensor['device']): Tensor[] {
    const L = this.numLayers, D = this.directions, H = this.units, S = this.stateKinds.length;
    const states = Array.isArray(given) ? given : [given];
    if (states.length === S && states.every((s) => s.size === L * D * batch * H)) return states.map((s) => s.reshape([L * D, batch, H]));
    if (states.length !== L * D * S || states.some((s) => s.size !== batch * H)) fail(this.name, `initialState must be ${this.initialStateForms()}`);
    return this.stateKinds.map((_, k) => packStates(Array.from({ length: L * D }, (_, slot) => states[slot * S + k]!), batch, H, device));
  }

  forward(x: Tensor, ctx: CallContext, initialState?: Tensor | Tensor[]): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.inputSize) fail(this.name, `expected inputs [batch, timesteps, ${this.inputSize}], got [${x.shape}]`);
    const batch = x.shape[0]!;
    const lengths = ctx.lengths;
    const input = this.goBackwards ? ops.reverseTime(x, lengths) : x;
    const L = this.numLayers, D = this.directions, H = this.units;
    let init: Tensor[] | undefined;
    if (initialState !== undefined) {
      init = this.engineStates(initialState, batch, x.device);
    } else if (this.stateful && this.state) {
      if (this.state[0]!.shape[1] !== batch) fail(this.name, `stateful layer got a batch of ${batch} but its state is for batches of ${this.state[0]!.shape[1]}; call resetStates() or keep the batch size fixed`);
      init = this.state;
    }
    const inputGradient = ctx.inputGradient ?? true;
    const res = this.run(input, this.pytorchParams(), {
      hiddenSize: H, numLayers: L, bidirectional: this.bidirectional, h0: init?.[0], ...(init?.[1] ? { c0: init[1] } : {}), lengths: lengths ?? undefined,
      training: ctx.training, dropout: ctx.training ? this.dropout : 0, seed: ctx.training && this.dropout > 0 ? ctx.rng.nextSeed() : 0,
      inputGradient,
    });
    const finals = this.stateKinds.map((k) => (k === 'h' ? res.hN : res.cN!));
    if (this.stateful) {
      for (const t of this.previousState ?? []) t.dispose();
      this.previousState = this.state; // still needed by this step's backward
      this.state = finals.map((t) => keep(t.clone()));
    }
    let out: Tensor;
    let yf: Tensor | null = null;
    let yb: Tensor | null = null;
    if (this.returnSequences) {
      out = res.output;
    } else if (D === 1) {
      // One layer: its final state is all of hN, viewed (not copied) as [batch, H].
      out = (L === 1 ? res.hN : ops.sliceFirst(res.hN, L - 1, 1)).reshape([batch, H]);
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
    if (ctx.training) this.saved = { res, lengths, yf, yb, batch, initialStates: initialState === undefined ? 0 : Array.isArray(initialState) ? initialState.length : 1, inputGradient };
    if (!this.returnSequences) ctx.lengths = null;
    this.lastStates = finals;
    return out;
  }

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
    const run = () => {
      const out = this.forward(x, ctx, options.initialState);
      return this.returnState ? [out, ...this.finalStates(x.shape[0]!)] : out;
    };
    // At inference the engine's other results (final states, …) are freed as predict frees them;
    // a training call keeps them for backward().
    return ctx.training ? run() : tidy(run);
  }

  /**
   * The last layer's final states per direction ([batch, units] each: h, or an LSTM's h and c),
   * forward direction first, from the last forward: Keras' order for returnState.
   */
  private finalStates(batch: number): Tensor[] {
    const D = this.directions;
    return Array.from({ length: D }, (_, d) => this.lastStates!.map((s) => ops.sliceFirst(s, (this.numLayers - 1) * D + d, 1).reshape([batch, this.units]))).flat();
  }

  /**
   * Graph inputs: [x, ...initial states] (per layer and direction, [units] each; an LSTM's h then
   * c); outputs: [output, ...final states] with returnState.
   */
  override outputShapesFor(inputShapes: LayerShape[]): LayerShape[] {
    const [x, ...states] = inputShapes;
    const S = this.stateKinds.length;
    const want = this.numLayers * this.directions * S;
    if (states.length && (states.length !== want || states.some((s) => s.length !== 1 || s[0] !== this.units))) {
      const each = S === 1 ? 'one per layer and direction' : `${this.stateKinds.join(' and ')} per layer and direction`;
      fail(`${this.name}.apply`, `initial states must be ${want} tensors of shape [batch, ${this.units}] (${each}), got ${states.map((s) => `[batch, ${s.join(', ')}]`).join(', ')}`);
    }
    const out = super.outputShapesFor([x!]);
    return this.returnState ? [...out, ...Array.from({ length: this.directions * S }, () => [this.units])] : out;
  }

  override forwardNode(inputs: Tensor[], ctx: CallContext): Tensor[] {
    const [x, ...states] = inputs;
    const out = this.forward(x!, ctx, states.length ? states : undefined);
    return this.returnState ? [out, ...this.finalStates(x!.shape[0]!)] : [out];
  }

  override backwardNode(dOutputs: Array<Tensor | null>): Array<Tensor | null> {
    const [dy, ...dStates] = dOutputs;
    const { dx, dInit, batch, initialStates } = this.backwardAll(dy ?? null, dStates);
    // In the order of the inputs: per layer and direction, each state kind.
    const S = this.stateKinds.length;
    return [dx, ...Array.from({ length: initialStates }, (_, i) => ops.sliceFirst(dInit[i % S]!, Math.floor(i / S), 1).reshape([batch, this.units]))];
  }

  backward(dy: Tensor): Tensor {
    // Checked before the backward runs, which would use up the saved forward.
    if (this.saved && !this.saved.inputGradient) throw new Error(`${this.name}: backward() has no input gradient: its forward ran with ctx.inputGradient = false`);
    return this.backwardAll(dy, []).dx!;
  }

  /**
   * Gradients from the output's (dy) and the final states' (dStates: the last layer's, per
   * direction each state kind; null where none came) cotangents: dx, and one gradient per state
   * kind of the initial states ([L·D, batch, H]).
   */
  private backwardAll(dy: Tensor | null, dStates: Array<Tensor | null>): { dx: Tensor | null; dInit: Tensor[]; batch: number; initialStates: number } {
    const s = this.saved;
    if (!s) throw new Error(`${this.name}: backward() needs a training-mode forward first`);
    const { batch } = s;
    const L = this.numLayers, D = this.directions, H = this.units, S = this.stateKinds.length;
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
    // The last layer's final states per direction get the state outputs' gradients, and its h
    // the output's when the output is that state (returnSequences false).
    const finalGrads = this.stateKinds.map((kind, k) => {
      const perDirection = Array.from({ length: D }, (_, d) => {
        const fromOutput = kind === 'h' && !this.returnSequences && dWide ? ops.sliceLast(dWide, d * H, H) : null;
        const fromState = dStates[d * S + k] ?? null;
        return fromOutput && fromState ? ops.add(fromOutput, fromState) : (fromOutput ?? fromState);
      });
      if (!perDirection.some((g) => g)) return null;
      return packStates([...Array<null>((L - 1) * D).fill(null), ...perDirection], batch, H, s.res.output.device);
    });
    const g = s.res.backward(this.returnSequences ? dWide : null, finalGrads[0], finalGrads[1] ?? null);
    for (const p of this.params) this.setGrad(p, g.dParams[p.name.slice(this.name.length + 1)]!);
    this.saved = null;
    return { dx: this.goBackwards && g.dx ? ops.reverseTime(g.dx, s.lengths) : g.dx, dInit: S === 2 ? [g.dh0, g.dc0!] : [g.dh0], batch, initialStates: s.initialStates };
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

// ------------------------------------------------------------------ the cells

const GRU_CELL: CellSpec = {
  fn: 'gru', cell: 'gru', className: 'GRU', engine: 'GRU', gates: 3, kerasOneBias: false, states: ['h'], keys: [], paramShapes: gruParamShapes,
  fixed: {
    activation: { value: 'tanh', reason: `${fused('GRU')}, whose candidate activation is tanh` },
    recurrentActivation: { value: 'sigmoid', reason: `${fused('GRU')}, whose gate activation is sigmoid` },
    resetAfter: { value: true, reason: `${fused('GRU')}, which applies the reset gate after the recurrent matrix product (Keras reset_after=True)` },
  },
};

/** nn.GRU / cuDNN's CUDNN_GRU (Keras GRU with reset_after=True). */
export class GRU extends FusedRecurrent {
  constructor(args: GruArgs) {
    super(GRU_CELL, args);
  }

  protected override run(x: Tensor, params: RecurrentParams, options: RecurrentOptions): RecurrentResult {
    return gruOp(x, params, options);
  }
}

const LSTM_CELL: CellSpec = {
  fn: 'lstm', cell: 'lstm', className: 'LSTM', engine: 'LSTM', gates: 4, kerasOneBias: true, states: ['h', 'c'], keys: ['unitForgetBias'], paramShapes: lstmParamShapes,
  fixed: {
    activation: { value: 'tanh', reason: `${fused('LSTM')}, whose cell input and output activation is tanh` },
    recurrentActivation: { value: 'sigmoid', reason: `${fused('LSTM')}, whose gate activation is sigmoid` },
  },
};

/** nn.LSTM / cuDNN's CUDNN_LSTM (Keras LSTM); states h and c, gate blocks i, f, g, o. */
export class LSTM extends FusedRecurrent {
  readonly unitForgetBias: boolean;

  constructor(args: LstmArgs) {
    super(LSTM_CELL, args);
    this.unitForgetBias = flag('lstm', 'unitForgetBias', args.unitForgetBias, this.initializer === 'keras');
  }

  protected override run(x: Tensor, params: RecurrentParams, options: RecurrentOptions & { c0?: Tensor }): RecurrentResult {
    return lstmOp(x, params, options);
  }

  protected override initialParam(name: string, shape: number[]): Float32Array {
    const values = super.initialParam(name, shape);
    // Keras adds 1 to the forget gate's (second block's) bias; one of the two biases carries it.
    if (this.unitForgetBias && name.startsWith('bias_ih')) for (let j = this.units; j < 2 * this.units; j++) values[j] += 1;
    return values;
  }

  override getConfig(): LstmArgs {
    return { ...super.getConfig(), unitForgetBias: this.unitForgetBias };
  }
}

const SIMPLE_RNN_CELL: CellSpec = { fn: 'simpleRNN', cell: 'rnn', className: 'SimpleRNN', engine: 'RNN', gates: 1, kerasOneBias: true, states: ['h'], keys: ['activation'], paramShapes: rnnParamShapes, fixed: {} };

/** nn.RNN / cuDNN's CUDNN_RNN_TANH and CUDNN_RNN_RELU (Keras SimpleRNN with tanh or relu). */
export class SimpleRNN extends FusedRecurrent {
  readonly activation: 'tanh' | 'relu';

  constructor(args: SimpleRnnArgs) {
    super(SIMPLE_RNN_CELL, args);
    this.activation = args.activation ?? 'tanh';
    if (this.activation !== 'tanh' && this.activation !== 'relu') {
      fail('simpleRNN', `'activation' must be 'tanh' or 'relu' (${fused('RNN')}, whose modes are tanh and relu), got ${describe(args.activation)}`);
    }
  }

  protected override run(x: Tensor, params: RecurrentParams, options: RecurrentOptions): RecurrentResult {
    return rnnOp(x, params, { ...options, activation: this.activation });
  }

  override getConfig(): SimpleRnnArgs {
    return { ...super.getConfig(), activation: this.activation };
  }
}
