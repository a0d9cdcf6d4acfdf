// Whole Keras 3 models: `model.save('m.keras')` writes a zip archive holding
//   config.json        the model's serialisation: {module, class_name, config, build_config, compile_config}
//   metadata.json      Keras version and save date
//   model.weights.h5   the weights, one group per layer under /layers (as `.weights.h5` files)
// The config is translated into a graph description with this library's layer configs (Keras names
// and defaults mapped, every Keras option either honoured or refused with the layer's name and
// class), the layers are built (a Sequential model for a chain of layers, otherwise a functional
// Model through input(), layer.apply() and model()), and the weights are read with the
// `.weights.h5` importer (frameworks.ts) and assigned to the layers by the group names Keras gives them.
import { describe } from '../backend';
import * as L from '../layers';
import type { SymbolicTensor } from '../layers/base';
import { resolveLoss, type LossSpec } from '../losses';
import { input, model as functionalModel, Model } from '../models/model';
import type { Sequential } from '../models/sequential';
import { checkOptions, isPlainObject } from '../options';
import { checkPath, preview } from './args';
import { assignModules } from './assign';
import { f32, kerasLayerVariables, kerasModules, kerasVars, WeightImportError } from './frameworks';
import { Hdf5Error, Hdf5File, type Hdf5Dataset, type Hdf5Group } from './hdf5';
import { layerFromConfig, layerSlotsOf, modelFromTopology, optimizerFromConfig, writeLayerWeights, type LayerConfig } from './model-io';
import { ZipArchive, ZipError } from './zip';

export class KerasModelError extends Error {
  override name = 'KerasModelError';
}

const OP = 'loadKerasModel';

function fail(source: string, message: string): never {
  throw new KerasModelError(`${OP}: ${source}: ${message}`);
}

/** Output `tensor` of the `node`-th call of `layer` (Keras' keras_history). */
export interface KerasTensorRef {
  layer: string;
  node: number;
  tensor: number;
}

/** One call of a layer in a functional graph. */
export interface KerasCall {
  inputs: KerasTensorRef[];
  /** A recurrent layer's initial state (kwarg initial_state), [] when none. */
  initialState: KerasTensorRef[];
}

export interface KerasGraphLayer {
  /** The Keras class ('GRU', 'Bidirectional', 'Concatenate', ...). */
  kerasClass: string;
  /** This library's layer config (as in saved models' topology; merge layers as Concatenate, Add, Multiply, Average). */
  layer: LayerConfig;
  /** Functional models: each call of the layer (empty in a Sequential model). */
  calls: KerasCall[];
  /** The layer's group under /layers in model.weights.h5. */
  weightsGroup: string;
}

export interface KerasGraphInput {
  name: string;
  /** Without the batch dimension; null for a variable length. */
  shape: (number | null)[];
  dtype: 'float32' | 'int32';
}

export interface KerasTrainingConfig {
  optimizer: Record<string, unknown>;
  loss: LossSpec;
  metrics: string[];
}

/** A Keras model translated into this library's terms, before anything is built. */
export interface KerasModelGraph {
  className: 'Sequential' | 'Functional';
  name: string;
  inputs: KerasGraphInput[];
  layers: KerasGraphLayer[];
  /** Functional models: the model's outputs (a Sequential model's is its last layer). */
  outputs: KerasTensorRef[];
  /** The compile config mapped to this library's, or null when there is none or it cannot be (see trainingNote). */
  training: KerasTrainingConfig | null;
  /** Why the compile config is not used; null when it is (or the model was saved uncompiled). */
  trainingNote: string | null;
}

// ------------------------------------------------------------------ reading one layer's config

/**
 * A Keras layer's config, read key by key: each key is taken (mapped), accepted at the value this
 * library computes, or ignored for a stated reason; a key left over is refused, so no Keras option
 * is silently dropped.
 */
class KerasConfig {
  private readonly used = new Set<string>();
  constructor(readonly config: Record<string, unknown>, readonly where: string, readonly source: string) {}

  fail(message: string): never {
    fail(this.source, `${this.where}: ${message}`);
  }
  has(key: string): boolean {
    return this.config[key] !== undefined;
  }
  take(key: string, fallback?: unknown): unknown {
    this.used.add(key);
    return this.config[key] === undefined ? fallback : this.config[key];
  }
  number(key: string, fallback?: number): number {
    const v = this.take(key, fallback);
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`'${key}' must be a number, got ${describe(v)}`);
    return v;
  }
  boolean(key: string, fallback: boolean): boolean {
    const v = this.take(key, fallback);
    if (typeof v !== 'boolean') this.fail(`'${key}' must be true or false, got ${describe(v)}`);
    return v;
  }
  /** A key accepted only at `value` (or absent); another value is refused with `reason`. */
  only(key: string, value: unknown, reason: string): void {
    const v = this.take(key, value);
    if (JSON.stringify(v) !== JSON.stringify(value)) this.fail(`${key}=${preview(v)} is not supported: ${reason}`);
  }
  /** Keys whose values do not change what the loaded model computes. */
  ignore(...keys: string[]): void {
    for (const k of keys) this.used.add(k);
  }
  /** Refuses keys nobody took. */
  done(): void {
    const left = Object.keys(this.config).filter((k) => !this.used.has(k) && this.config[k] !== null);
    if (left.length) this.fail(`Keras option${left.length > 1 ? 's' : ''} ${left.join(', ')} ${left.length > 1 ? 'are' : 'is'} not supported by this library`);
  }
}

const REGULARIZERS_NOTE = 'regularizers and constraints are not implemented (training would differ)';
/** Why a recurrent option is fixed: the engines compute cuDNN's `cell` ('GRU', 'LSTM', 'RNN') and nothing else. */
const fused = (cell: string) => `the fused ${cell} engines compute cuDNN's ${cell} only`;

/** Common keys of every layer; the dtype must be float32 (this library computes in float32). */
function common(c: KerasConfig, name: string): Record<string, unknown> {
  c.take('name');
  const dtype = c.take('dtype', 'float32');
  const policy = isPlainObject(dtype) ? (dtype.config as Record<string, unknown> | undefined)?.name : dtype;
  if (policy !== 'float32') c.fail(`dtype policy ${preview(dtype)} is not supported: this library computes in float32`);
  const out: Record<string, unknown> = { name };
  if (c.has('trainable')) out.trainable = c.boolean('trainable', true);
  return out;
}

function noRegularizers(c: KerasConfig, ...keys: string[]): void {
  for (const k of keys) c.only(k, null, REGULARIZERS_NOTE);
}

const ACTIVATION_NAMES: Record<string, string> = { exponential: 'exp', hard_sigmoid: 'hardSigmoid', silu: 'swish' };

/** A Keras activation name in this library's terms (the layer refuses names it does not have). */
function activation(c: KerasConfig, key = 'activation'): string {
  const v = c.take(key, 'linear');
  if (v === null) return 'linear';
  if (typeof v !== 'string') c.fail(`'${key}' must be the name of a built-in activation, got ${preview(v)} (custom activations cannot be loaded)`);
  return ACTIVATION_NAMES[v] ?? v.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());
}

/** The Keras recurrent classes this library has, with the cuDNN cell each runs on. */
const RECURRENT_CLASSES: Record<string, string> = { GRU: 'GRU', LSTM: 'LSTM', SimpleRNN: 'RNN' };

/** A Keras GRU, LSTM or SimpleRNN config: the options they share, then each cell's own. */
function recurrentConfig(c: KerasConfig, name: string, kerasClass: string): Record<string, unknown> {
  const cell = RECURRENT_CLASSES[kerasClass]!;
  const out = common(c, name);
  out.units = c.number('units');
  out.returnSequences = c.boolean('return_sequences', false);
  out.returnState = c.boolean('return_state', false);
  out.goBackwards = c.boolean('go_backwards', false);
  out.stateful = c.boolean('stateful', false);
  if (kerasClass === 'SimpleRNN') {
    const a = c.take('activation', 'tanh');
    if (a !== 'tanh' && a !== 'relu') c.fail(`activation=${preview(a)} is not supported: ${fused(cell)}, whose modes are tanh and relu`);
    out.activation = a;
  } else {
    c.only('activation', 'tanh', `${fused(cell)}, whose ${kerasClass === 'GRU' ? 'candidate' : 'cell input and output'} activation is tanh`);
    c.only('recurrent_activation', 'sigmoid', `${fused(cell)}, whose gate activation is sigmoid`);
  }
  if (kerasClass === 'GRU') c.only('reset_after', true, `${fused(cell)}, which applies the reset gate after the recurrent matrix product; rebuild the layer with reset_after=True in Keras and retrain`);
  c.only('use_bias', true, `${fused(cell)}, which always has both biases`);
  c.only('recurrent_dropout', 0, `${fused(cell)}, which has no dropout on the recurrent state`);
  c.only('dropout', 0, `dropout on the ${kerasClass} inputs is not implemented; put a Dropout layer before the ${kerasClass}`);
  noRegularizers(c, 'kernel_regularizer', 'recurrent_regularizer', 'bias_regularizer', 'activity_regularizer', 'kernel_constraint', 'recurrent_constraint', 'bias_constraint');
  // Initializers (an LSTM's unit_forget_bias among them) and seeds only matter before the weights
  // are loaded; unroll is how, not what. zero_output_for_mask: outputs at masked steps are zeros
  // here (see docs/io.md).
  c.ignore('kernel_initializer', 'recurrent_initializer', 'bias_initializer', 'unit_forget_bias', 'seed', 'unroll', 'zero_output_for_mask');
  c.done();
  return out;
}

/** Keras merge layers this library has (same class names); Subtract, Maximum, Minimum, Dot are not among them. */
const MERGE_LAYERS: Record<string, new (args: L.LayerArgs) => L.Layer> = { Concatenate: L.Concatenate, Add: L.Add, Multiply: L.Multiply, Average: L.Average };

/** A Keras layer's serialisation → this library's layer config. */
function layerConfig(spec: unknown, where: string, source: string): { kerasClass: string; layer: LayerConfig } {
  if (!isPlainObject(spec) || typeof spec.class_name !== 'string' || !isPlainObject(spec.config)) fail(source, `${where}: not a Keras layer serialisation: ${preview(spec)}`);
  const kerasClass = spec.class_name;
  const name = typeof spec.config.name === 'string' ? spec.config.name : fail(source, `${where}: the layer has no name`);
  const c = new KerasConfig(spec.config, `layer '${name}' (${kerasClass})`, source);
  const done = (className: string, config: Record<string, unknown>): { kerasClass: string; layer: LayerConfig } => {
    c.done();
    return { kerasClass, layer: { className, config } };
  };
  switch (kerasClass) {
    case 'GRU':
    case 'LSTM':
    case 'SimpleRNN':
      return { kerasClass, layer: { className: kerasClass, config: recurrentConfig(c, name, kerasClass) } };
    case 'Bidirectional': {
      const out = common(c, name);
      const mode = c.take('merge_mode', 'concat');
      if (!['concat', 'sum', 'mul', 'ave'].includes(mode as string)) c.fail(`merge_mode ${preview(mode)} is not supported (concat, sum, mul, ave are)`);
      const forward = c.take('layer');
      const backward = c.take('backward_layer');
      const wrapped = isPlainObject(forward) ? String(forward.class_name) : preview(forward);
      if (!(wrapped in RECURRENT_CLASSES)) c.fail(`Bidirectional wraps ${wrapped}; only a GRU, LSTM or SimpleRNN can be loaded`);
      const f = layerConfig(forward, `${where}.layer`, source).layer.config;
      if (backward !== undefined && backward !== null) {
        const b = layerConfig(backward, `${where}.backward_layer`, source);
        const same = (k: string) => JSON.stringify(f[k]) === JSON.stringify(b.layer.config[k]);
        if (b.kerasClass !== wrapped || !['units', 'returnSequences', 'returnState', 'stateful', 'activation'].every(same) || b.layer.config.goBackwards === f.goBackwards) {
          c.fail(`its backward layer must be the forward ${wrapped} run backwards (same class, units and options, go_backwards inverted)`);
        }
      }
      if (f.goBackwards) c.fail('a forward layer with go_backwards=True is not supported in Bidirectional');
      delete f.name;
      delete f.goBackwards;
      return done(wrapped, { ...f, ...out, bidirectional: true, mergeMode: mode });
    }
    case 'Dense': {
      const out = common(c, name);
      out.units = c.number('units');
      out.activation = activation(c);
      out.useBias = c.boolean('use_bias', true);
      noRegularizers(c, 'kernel_regularizer', 'bias_regularizer', 'activity_regularizer', 'kernel_constraint', 'bias_constraint');
      c.only('quantization_config', null, 'quantized layers are not supported');
      c.ignore('kernel_initializer', 'bias_initializer');
      return done('Dense', out);
    }
    case 'Embedding': {
      const out = common(c, name);
      out.inputDim = c.number('input_dim');
      out.outputDim = c.number('output_dim');
      out.maskZero = c.boolean('mask_zero', false);
      noRegularizers(c, 'embeddings_regularizer', 'activity_regularizer', 'embeddings_constraint');
      c.only('quantization_config', null, 'quantized layers are not supported');
      c.ignore('embeddings_initializer', 'input_length');
      return done('Embedding', out);
    }
    case 'LayerNormalization': {
      const out = common(c, name);
      // A built layer saves its axis as a list ([-1]); the last axis may also be given by its index.
      const axis = c.take('axis', -1);
      const shape = isPlainObject(spec.build_config) ? spec.build_config.input_shape : undefined;
      const axes = Array.isArray(axis) ? axis : [axis];
      if (axes.length !== 1 || (axes[0] !== -1 && !(Array.isArray(shape) && axes[0] === shape.length - 1))) c.fail(`axis=${preview(axis)} is not supported: only the normalisation over the last axis is implemented`);
      out.epsilon = c.number('epsilon', 1e-3);
      out.center = c.boolean('center', true);
      out.scale = c.boolean('scale', true);
      c.only('rms_scaling', false, 'RMS scaling is not implemented (only the mean-and-variance normalisation)');
      noRegularizers(c, 'beta_regularizer', 'gamma_regularizer', 'beta_constraint', 'gamma_constraint');
      c.ignore('beta_initializer', 'gamma_initializer');
      return done('LayerNormalization', out);
    }
    case 'Masking':
      return done('Masking', { ...common(c, name), maskValue: c.number('mask_value', 0) });
    case 'Dropout': {
      const out = common(c, name);
      out.rate = c.number('rate');
      c.only('noise_shape', null, 'dropout with a noise_shape is not implemented');
      c.ignore('seed'); // training draws from this library's generator (setSeed)
      return done('Dropout', out);
    }
    case 'Activation':
      return done('Activation', { ...common(c, name), activation: activation(c) });
    case 'TimeDistributed': {
      const out = common(c, name);
      const inner = layerConfig(c.take('layer'), `${where}.layer`, source);
      if (inner.layer.className !== 'Dense') c.fail(`TimeDistributed wraps ${inner.kerasClass}; only a Dense layer can be loaded`);
      return done('TimeDistributed', { ...out, layer: inner.layer });
    }
  }
  if (kerasClass in MERGE_LAYERS) {
    const out = common(c, name);
    if (kerasClass === 'Concatenate') c.only('axis', -1, 'only concatenation on the last axis is implemented');
    return done(kerasClass, out);
  }
  fail(source, `${where}: layer '${name}' has class ${kerasClass}, which this library does not have (it loads GRU (reset_after=True), LSTM, SimpleRNN, Bidirectional of those, Dense, Embedding, Masking, Dropout, Activation, LayerNormalization, TimeDistributed(Dense), Concatenate, Add, Multiply and Average)`);
}

// ------------------------------------------------------------------ graph

/** Keras' name for a layer's group in the weights file: its class in snake case, numbered per class (saving_lib). */
function snakeCase(name: string): string {
  return name.replace(/\W+/g, '').replace(/(.)([A-Z][a-z]+)/g, '$1_$2').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

function tensorRef(v: unknown, where: string, source: string): KerasTensorRef {
  const history = isPlainObject(v) && v.class_name === '__keras_tensor__' && isPlainObject(v.config) ? v.config.keras_history : undefined;
  if (!Array.isArray(history) || history.length !== 3 || typeof history[0] !== 'string' || !Number.isInteger(history[1]) || !Number.isInteger(history[2])) {
    fail(source, `${where}: expected a Keras 3 tensor reference {class_name: '__keras_tensor__', config: {keras_history: [layer, node, tensor]}}, got ${preview(v)} (Keras 2 configs are not read: load and save the model in Keras 3)`);
  }
  return { layer: history[0], node: history[1], tensor: history[2] };
}

function tensorRefs(v: unknown, where: string, source: string): KerasTensorRef[] {
  return Array.isArray(v) ? v.map((t, i) => tensorRef(t, `${where}[${i}]`, source)) : [tensorRef(v, where, source)];
}

/** A call as read: with the mask tensor Keras passed explicitly (see checkMasks). */
type ParsedCall = KerasCall & { mask: KerasTensorRef | null };
type ParsedLayer = Omit<KerasGraphLayer, 'calls'> & { calls: ParsedCall[] };

function call(node: unknown, where: string, source: string): ParsedCall {
  if (!isPlainObject(node) || !Array.isArray(node.args)) fail(source, `${where}: expected {args, kwargs}, got ${preview(node)}`);
  if (node.args.length !== 1) fail(source, `${where}: a call with ${node.args.length} positional arguments is not supported (one tensor or one list of tensors is)`);
  const kwargs = isPlainObject(node.kwargs) ? node.kwargs : {};
  for (const [k, v] of Object.entries(kwargs)) {
    const harmless = k === 'mask' || (k === 'training' && v === false);
    if (!harmless && k !== 'initial_state') fail(source, `${where}: call argument ${k}=${preview(v)} is not supported`);
  }
  const state = kwargs.initial_state;
  return {
    inputs: tensorRefs(node.args[0], `${where}.args[0]`, source),
    initialState: state === undefined || state === null ? [] : tensorRefs(state, `${where}.kwargs.initial_state`, source),
    mask: kwargs.mask === undefined || kwargs.mask === null ? null : tensorRef(kwargs.mask, `${where}.kwargs.mask`, source),
  };
}

/**
 * A mask operation Keras records in a functional graph: `NotEqual(x, value)` (an Embedding's
 * mask_zero: tokens != 0), or `Any(NotEqual(x, value), axis=-1)` (a Masking layer's mask).
 */
interface MaskOp {
  of: KerasTensorRef;
  value: number;
  overFeatures: boolean;
}

function maskOp(spec: Record<string, unknown>, ops: Map<string, MaskOp>, where: string, source: string): MaskOp {
  const nodes = spec.inbound_nodes;
  const args = Array.isArray(nodes) && nodes.length === 1 && isPlainObject(nodes[0]) ? nodes[0].args : undefined;
  const config = isPlainObject(spec.config) ? spec.config : {};
  const refuse: () => never = () => fail(source, `${where}: operation '${String(spec.name)}' (${String(spec.class_name)}) is supported only as the mask of an Embedding(mask_zero=True) or a Masking layer, got ${preview(nodes)}`);
  if (!Array.isArray(args)) refuse();
  if (spec.class_name === 'NotEqual') {
    if (args.length !== 2 || typeof args[1] !== 'number') refuse();
    return { of: tensorRef(args[0], `${where}.args[0]`, source), value: args[1] as number, overFeatures: false };
  }
  const inner = args.length === 1 ? ops.get(tensorRef(args[0], `${where}.args[0]`, source).layer) : undefined;
  if (!inner || inner.overFeatures || config.axis !== -1 || config.keepdims !== false) return refuse();
  return { ...inner, overFeatures: true };
}

const sameRef = (a: KerasTensorRef | undefined, b: KerasTensorRef | undefined): boolean => !!a && !!b && a.layer === b.layer && a.node === b.node && a.tensor === b.tensor;

/**
 * Keras passes a mask computed by an Embedding(mask_zero=True) or a Masking layer explicitly
 * (`mask=`) to the layers after it. This library propagates those masks itself, so a call's mask is
 * accepted (and the graph leaves it out) when it is the mask of the Embedding or Masking layer the
 * call's input comes from (through single-input layers); any other explicit mask is refused.
 */
function checkMasks(layers: ParsedLayer[], ops: Map<string, MaskOp>, source: string): void {
  const byName = new Map(layers.map((l) => [String(l.layer.config.name), l]));
  const isMaskOfUpstreamLayer = (ref: KerasTensorRef, op: MaskOp): boolean => {
    for (let r: KerasTensorRef | undefined = ref, steps = 0; r && steps <= layers.length; steps++) {
      const producer = byName.get(r.layer);
      const c: ParsedCall | undefined = producer?.calls[r.node];
      if (!producer || !c) return false;
      const { className, config } = producer.layer;
      const masks = op.overFeatures ? className === 'Masking' && config.maskValue === op.value : className === 'Embedding' && config.maskZero === true && op.value === 0;
      if (masks) return sameRef(c.inputs[0], op.of);
      r = c.inputs.length === 1 ? c.inputs[0] : undefined;
    }
    return false;
  };
  for (const l of layers) {
    l.calls.forEach((c, j) => {
      if (!c.mask) return;
      const op = ops.get(c.mask.layer);
      if (!op || !isMaskOfUpstreamLayer(c.inputs[0]!, op)) fail(source, `layer '${l.layer.config.name}' (${l.kerasClass}) inbound_nodes[${j}] is given an explicit mask from '${c.mask.layer}': only the mask of the Embedding(mask_zero=True) or Masking layer its input comes from is supported (this library propagates it)`);
    });
  }
}

/**
 * Keras' go_backwards with return_sequences reverses the whole padded sequence (padding first)
 * without reversing its mask; this library's layers reverse each sample's valid steps. On padded
 * input the returned sequences differ at every step, so in a model with a mask source such a
 * layer is refused rather than loaded to compute something else.
 */
function refuseMaskedBackwardSequences(layers: ParsedLayer[], source: string): void {
  const masked = layers.some((l) => l.kerasClass === 'Masking' || (l.kerasClass === 'Embedding' && l.layer.config.maskZero === true));
  if (!masked) return;
  for (const { kerasClass, layer: { config } } of layers) {
    if (config.goBackwards === true && config.returnSequences === true) {
      fail(source, `layer '${String(config.name)}' (${kerasClass}): go_backwards=True with return_sequences=True is not supported in a model with a mask (Masking or Embedding(mask_zero=True)): Keras reverses the padded sequence as a whole without reversing its mask, this library reverses each sample's valid steps, so the outputs would differ`);
    }
  }
}

function inputOf(spec: Record<string, unknown>, where: string, source: string): KerasGraphInput {
  const c = isPlainObject(spec.config) ? spec.config : {};
  const shape = c.batch_shape ?? c.batch_input_shape;
  if (!Array.isArray(shape) || shape.length < 2 || !shape.slice(1).every((d) => d === null || (Number.isInteger(d) && d > 0))) fail(source, `${where}: input shape ${preview(shape)} is not [batch, ...dimensions]`);
  const dtype = c.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'int64') fail(source, `${where}: input dtype ${preview(dtype)} is not supported (float32, or int32/int64 token ids)`);
  return { name: String(c.name ?? spec.name), shape: shape.slice(1) as (number | null)[], dtype: dtype === 'float32' ? 'float32' : 'int32' };
}

/** The compile config in this library's terms, or the reason it cannot be used. */
function trainingConfig(compile: unknown, source: string): { training: KerasTrainingConfig | null; note: string | null } {
  if (!isPlainObject(compile)) return { training: null, note: null };
  try {
    const opt = compile.optimizer;
    if (!isPlainObject(opt) || typeof opt.class_name !== 'string' || !isPlainObject(opt.config)) throw new Error(`optimizer ${preview(opt)} is not a Keras optimizer serialisation`);
    const c = new KerasConfig(opt.config, `optimizer ${opt.class_name}`, source);
    const lr = c.take('learning_rate', 0.001);
    if (typeof lr !== 'number') c.fail(`a learning-rate schedule (${preview(lr)}) cannot be loaded; compile the model yourself`);
    const args: Record<string, unknown> = { learningRate: lr };
    for (const [keras, ours] of [['clipnorm', 'clipnorm'], ['clipvalue', 'clipvalue'], ['global_clipnorm', 'globalClipnorm']]) {
      const v = c.take(keras!, null);
      if (v !== null) args[ours!] = v;
    }
    c.only('use_ema', false, 'an exponential moving average of the weights is not implemented');
    c.only('loss_scale_factor', null, 'loss scaling is not implemented');
    c.only('gradient_accumulation_steps', null, 'gradient accumulation is not implemented');
    c.ignore('name', 'ema_momentum', 'ema_overwrite_frequency');
    const className = { SGD: 'sgd', Adam: 'adam', AdamW: 'adamw', RMSprop: 'rmsprop' }[opt.class_name];
    if (className === 'sgd') Object.assign(args, { momentum: c.take('momentum', 0), nesterov: c.take('nesterov', false) });
    else if (className === 'adam' || className === 'adamw') {
      Object.assign(args, { beta1: c.take('beta_1', 0.9), beta2: c.take('beta_2', 0.999), epsilon: c.take('epsilon', 1e-7) });
      c.only('amsgrad', false, 'AMSGrad is not implemented');
    } else if (className === 'rmsprop') {
      Object.assign(args, { rho: c.take('rho', 0.9), momentum: c.take('momentum', 0), epsilon: c.take('epsilon', 1e-7) });
      c.only('centered', false, 'centered RMSprop is not implemented');
    } else c.fail('this optimizer is not implemented here (SGD, Adam, AdamW and RMSprop are)');
    const decay = c.take('weight_decay', null);
    if (className === 'adamw') args.weightDecay = decay ?? 0.004;
    else if (decay !== null && decay !== 0) c.fail('weight_decay is only implemented for AdamW');
    c.done();
    const loss = kerasLoss(compile.loss, source);
    const metrics = compile.metrics ?? [];
    if (!Array.isArray(metrics) || !metrics.every((m) => typeof m === 'string')) throw new Error(`metrics ${preview(metrics)} are not a list of built-in metric names`);
    for (const k of ['loss_weights', 'weighted_metrics']) if (compile[k] !== null && compile[k] !== undefined) throw new Error(`${k} is not supported`);
    return { training: { optimizer: { className, ...args }, loss, metrics: metrics as string[] }, note: null };
  } catch (err) {
    return { training: null, note: (err as Error).message.replace(`${OP}: ${source}: `, '') };
  }
}

const LOSS_CLASSES: Record<string, string> = {
  MeanSquaredError: 'meanSquaredError', MeanAbsoluteError: 'meanAbsoluteError', BinaryCrossentropy: 'binaryCrossentropy',
  CategoricalCrossentropy: 'categoricalCrossentropy', SparseCategoricalCrossentropy: 'sparseCategoricalCrossentropy',
};

function kerasLoss(loss: unknown, source: string): LossSpec {
  if (typeof loss === 'string') return resolveLoss(loss);
  if (isPlainObject(loss) && typeof loss.class_name === 'string' && loss.class_name in LOSS_CLASSES && isPlainObject(loss.config)) {
    const c = new KerasConfig(loss.config, `loss ${loss.class_name}`, source);
    const fromLogits = c.boolean('from_logits', false);
    c.only('label_smoothing', 0, 'label smoothing is not implemented');
    c.only('reduction', 'sum_over_batch_size', "the loss is always the mean over samples (Keras' sum_over_batch_size)");
    c.only('axis', -1, 'the classes are on the last axis');
    c.ignore('name', 'dtype');
    c.done();
    return resolveLoss({ name: LOSS_CLASSES[loss.class_name], fromLogits });
  }
  throw new Error(`loss ${preview(loss)} is not one this library has (${Object.keys(LOSS_CLASSES).join(', ')})`);
}

/** Translates a Keras 3 model config (config.json) into a graph of this library's layer configs. */
export function kerasGraphFromConfig(config: unknown, source = '<config.json>'): KerasModelGraph {
  if (typeof source !== 'string') throw new TypeError(`kerasGraphFromConfig: argument 'source' must be a string naming the file, got ${describe(source)}`);
  if (!isPlainObject(config) || !isPlainObject(config.config)) fail(source, `config.json is not a Keras model serialisation: ${preview(config)}`);
  const className = config.class_name;
  if (className !== 'Sequential' && className !== 'Functional' && className !== 'Model') {
    fail(source, `config.json holds a ${preview(className)}; only Sequential and functional models can be loaded (subclassed models have no config to rebuild them from)`);
  }
  const body = config.config;
  if (!Array.isArray(body.layers)) fail(source, 'config.json has no list of layers');
  const name = typeof body.name === 'string' ? body.name : 'model';
  const inputs: KerasGraphInput[] = [];
  const layers: ParsedLayer[] = [];
  const maskOps = new Map<string, MaskOp>();
  const perClass = new Map<string, number>();
  body.layers.forEach((spec: unknown, i: number) => {
    const where = `layer ${i}`;
    if (!isPlainObject(spec)) fail(source, `${where}: not a layer serialisation: ${preview(spec)}`);
    // Keras numbers the weight groups per class over all layers, InputLayers included.
    const kerasClass = String(spec.class_name);
    const n = perClass.get(kerasClass) ?? 0;
    perClass.set(kerasClass, n + 1);
    const weightsGroup = n === 0 ? snakeCase(kerasClass) : `${snakeCase(kerasClass)}_${n}`;
    if (kerasClass === 'InputLayer') {
      inputs.push(inputOf(spec, where, source));
      return;
    }
    if ((kerasClass === 'NotEqual' || kerasClass === 'Any') && className !== 'Sequential') {
      maskOps.set(String(spec.name), maskOp(spec, maskOps, where, source));
      return;
    }
    const mapped = layerConfig(spec, where, source);
    const nodes = className === 'Sequential' ? [] : spec.inbound_nodes;
    if (!Array.isArray(nodes)) fail(source, `${where}: a functional model's layer needs inbound_nodes`);
    layers.push({ ...mapped, calls: nodes.map((node, j) => call(node, `layer '${mapped.layer.config.name}' inbound_nodes[${j}]`, source)), weightsGroup });
  });
  checkMasks(layers, maskOps, source);
  refuseMaskedBackwardSequences(layers, source);
  if (className === 'Sequential' && !inputs.length) {
    const shape = (isPlainObject(config.build_config) ? config.build_config.input_shape : undefined) ?? body.build_input_shape;
    if (shape) inputs.push(inputOf({ config: { batch_shape: shape, name: 'input' } }, 'build_config', source));
  }
  let outputs: KerasTensorRef[] = [];
  if (className !== 'Sequential') {
    const refs = (v: unknown, what: string): KerasTensorRef[] => {
      const list = Array.isArray(v) && typeof v[0] === 'string' ? [v] : v;
      if (!Array.isArray(list)) fail(source, `config.json: ${what} ${preview(v)} is not a list of [layer, node, tensor]`);
      return list.map((r) => (Array.isArray(r) && r.length === 3 && typeof r[0] === 'string' ? { layer: r[0], node: Number(r[1]), tensor: Number(r[2]) } : fail(source, `config.json: ${what} entry ${preview(r)} is not [layer, node, tensor]`)));
    };
    const inputLayers = refs(body.input_layers, 'input_layers');
    const byName = new Map(inputs.map((x) => [x.name, x]));
    inputs.splice(0, inputs.length, ...inputLayers.map((r) => byName.get(r.layer) ?? fail(source, `config.json: input '${r.layer}' is not an InputLayer`)));
    outputs = refs(body.output_layers, 'output_layers');
  }
  const { training, note } = trainingConfig(config.compile_config, source);
  return {
    className: className === 'Sequential' ? 'Sequential' : 'Functional', name, inputs, outputs, training, trainingNote: note,
    layers: layers.map((l) => ({ ...l, calls: l.calls.map(({ mask: _, ...c }) => c) })),
  };
}

// ------------------------------------------------------------------ the archive

/** The config, metadata and weights of a `.keras` file. */
export function readKerasArchive(file: string): { config: unknown; metadata: unknown; weights: Hdf5File } {
  checkPath('readKerasArchive', 'file', file);
  return openKerasArchive(file, (zip, json) => ({ config: json('config.json'), metadata: zip.has('metadata.json') ? json('metadata.json') : null, weights: new Hdf5File(zip.read('model.weights.h5'), `${file}:model.weights.h5`) }));
}

/**
 * Opens a `.keras` archive (it must hold config.json and model.weights.h5) and runs `read` on it;
 * only the entries `read` asks for are inflated. Zip and HDF5 faults are errors naming the file.
 */
function openKerasArchive<T>(file: string, read: (zip: ZipArchive, json: (entry: string) => unknown) => T): T {
  try {
    const zip = ZipArchive.open(file);
    for (const entry of ['config.json', 'model.weights.h5']) if (!zip.has(entry)) fail(file, `the archive has no ${entry}: not a Keras 3 .keras file (entries: ${zip.entries().map((e) => e.name).join(', ') || 'none'})`);
    const json = (entry: string): unknown => {
      try {
        return JSON.parse(Buffer.from(zip.read(entry)).toString('utf8'));
      } catch (err) {
        if (err instanceof ZipError) throw err;
        fail(file, `${entry} is not valid JSON: ${(err as Error).message}`);
      }
    };
    return read(zip, json);
  } catch (err) {
    if (err instanceof ZipError || err instanceof Hdf5Error) fail(file, err.message);
    throw err;
  }
}

/** Reads a `.keras` file's config into a graph of this library's layer configs (nothing is built; the weights are not read). */
export function readKerasGraph(file: string): KerasModelGraph {
  checkPath('readKerasGraph', 'file', file);
  return kerasGraphFromConfig(openKerasArchive(file, (_zip, json) => json('config.json')), file);
}

/**
 * The graph as a chain of layers when it is one (a Sequential model, or a functional model whose
 * layers each take the previous one's only output), else null.
 */
function chain(graph: KerasModelGraph): KerasGraphLayer[] | null {
  if (graph.className === 'Sequential') return graph.layers;
  if (graph.inputs.length !== 1 || graph.outputs.length !== 1) return null;
  let previous = graph.inputs[0]!.name;
  for (const l of graph.layers) {
    const [only, ...more] = l.calls;
    if (!only || more.length || only.initialState.length || only.inputs.length !== 1) return null;
    const r = only.inputs[0]!;
    if (r.layer !== previous || r.node !== 0 || r.tensor !== 0) return null;
    previous = String(l.layer.config.name);
  }
  const out = graph.outputs[0]!;
  return out.layer === previous && out.node === 0 && out.tensor === 0 ? graph.layers : null;
}

export interface LoadKerasModelOptions {
  /** Compile with the file's training config when this library has it (default true). */
  compile?: boolean;
}

/**
 * Loads a Keras 3 `.keras` file: the architecture (Keras names and defaults mapped to this
 * library's layers), the weights, and the compiled training config when this library has the
 * optimizer and loss (otherwise the model comes back uncompiled with a process warning saying why).
 * A Sequential model, or a functional one whose layers form a chain, becomes a Sequential model;
 * any other functional graph a functional Model (see docs/io.md).
 */
export function loadKerasModel(file: string, options: LoadKerasModelOptions = {}): Sequential | Model {
  checkPath(OP, 'file', file);
  checkOptions(OP, options, ['compile']);
  if (options.compile !== undefined && typeof options.compile !== 'boolean') throw new TypeError(`${OP}: option 'compile' must be a boolean, got ${describe(options.compile)}`);
  const archive = readKerasArchive(file);
  const graph = kerasGraphFromConfig(archive.config, file);
  const layers = chain(graph);
  const model = layers ? buildSequential(graph, layers, file) : buildFunctional(graph, file);
  try {
    loadGraphWeights(model, graph.layers, archive.weights, file);
    if (options.compile ?? true) {
      compileFrom(model, graph, file);
      if (model.optimizer) restoreOptimizerState(model, graph.layers, archive.weights, file);
    }
    return model;
  } catch (err) {
    model.dispose();
    throw err;
  }
}

function buildSequential(graph: KerasModelGraph, layers: KerasGraphLayer[], file: string): Sequential {
  const input = graph.inputs[0];
  if (!input) fail(file, 'the model has no input shape (build it in Keras, e.g. with keras.Input, before saving)');
  const topology = layers.map((l, i) => (i === 0 ? { ...l.layer, config: { ...l.layer.config, inputShape: input.shape } } : l.layer));
  let model: Sequential;
  try {
    model = modelFromTopology({ className: 'Sequential', name: graph.name, layers: topology }) as Sequential; // a Sequential topology gives a Sequential
  } catch (err) {
    fail(file, (err as Error).message.replace(/^loadModel: /, ''));
  }
  const expected = model.layers[0]?.inputDType;
  const problem = !model.built ? `the model does not build from input shape [${input.shape}]` : input.dtype !== expected ? `the input '${input.name}' is ${input.dtype} but the first layer takes ${expected}` : null;
  if (problem) {
    model.dispose();
    fail(file, problem);
  }
  return model;
}

/** The functional graph with this library's functional API: input(), layer.apply(), model(). */
function buildFunctional(graph: KerasModelGraph, file: string): Model {
  const made: L.Layer[] = [];
  try {
    const inputs = graph.inputs.map((x) => input({ shape: x.shape, dtype: x.dtype, name: x.name }));
    // Layer name → for each call, its outputs.
    const produced = new Map<string, SymbolicTensor[][]>(graph.inputs.map((x, i) => [x.name, [[inputs[i]!]]]));
    const tensorOf = (r: KerasTensorRef, where: string): SymbolicTensor =>
      produced.get(r.layer)?.[r.node]?.[r.tensor] ?? fail(file, `${where} uses output ${r.tensor} of call ${r.node} of '${r.layer}', which no earlier layer produces`);
    for (const l of graph.layers) {
      const name = String(l.layer.config.name);
      const where = `layer '${name}' (${l.kerasClass})`;
      const Merge = MERGE_LAYERS[l.layer.className];
      const layer = Merge ? new Merge(l.layer.config) : layerFromConfig(l.layer, where);
      made.push(layer);
      produced.set(name, l.calls.map((c) => {
        if (!Merge && c.inputs.length !== 1) fail(file, `${where} is called on ${c.inputs.length} tensors; it takes one`);
        if (c.initialState.length && !(layer instanceof L.FusedRecurrent)) fail(file, `${where} is given an initial_state, which only a recurrent layer (GRU, LSTM, SimpleRNN) takes here`);
        const args = [...c.inputs, ...c.initialState].map((r) => tensorOf(r, where));
        const out = layer.apply(Merge || args.length > 1 ? args : args[0]!);
        return Array.isArray(out) ? out : [out];
      }));
    }
    return functionalModel({ inputs, outputs: graph.outputs.map((r) => tensorOf(r, 'the model output')), name: graph.name });
  } catch (err) {
    for (const l of made) l.dispose();
    if (err instanceof KerasModelError) throw err;
    fail(file, (err as Error).message.replace(/^loadModel: /, ''));
  }
}

function loadGraphWeights(model: Sequential | Model, layers: KerasGraphLayer[], h5: Hdf5File, file: string): void {
  const slots = layerSlotsOf(model.layers);
  const mapping = weightsGroups(slots, layers);
  try {
    const modules = kerasModules(h5, `${file}:model.weights.h5`);
    writeLayerWeights(slots, assignModules(slots.map((s) => s.slot), modules, { format: 'keras', mapping, source: `${file}:model.weights.h5` }), OP);
  } catch (err) {
    if (err instanceof WeightImportError || err instanceof Hdf5Error) fail(file, `the weights do not fit the config: ${err.message.replace(/^loadWeights: /, '')}`);
    throw err;
  }
}

/** Each of the model's weight slots (named as the Keras layer) with its layer's group in model.weights.h5. */
function weightsGroups(slots: ReturnType<typeof layerSlotsOf>, layers: KerasGraphLayer[]): Record<string, string> {
  const groupOf = new Map(layers.map((l) => [String(l.layer.config.name), l.weightsGroup]));
  return Object.fromEntries(slots.map(({ slot }) => [slot.name, groupOf.get(slot.name)!]));
}

/**
 * The optimizer's state saved with the model (optimizer/vars: the iteration count, the learning
 * rate, then each trainable variable's slots) into the compiled optimizer, so that training goes
 * on as Keras' would. Keras 3 keeps the slots either variable by variable (Adam's momentum and
 * velocity of each in turn, SGD's momentum) or slot by slot (RMSprop's velocities, then its
 * momentums); the variables' shapes tell which. The slots take the weights' own conversions
 * (GRU gates reordered, matrices transposed, biases split), done by the weight importer on the
 * slots in place of the values. A state that does not fit (another slot count, shapes that
 * match neither layout or both) is left out with a process warning, and the optimizer starts
 * fresh.
 */
function restoreOptimizerState(model: Sequential | Model, layers: KerasGraphLayer[], h5: Hdf5File, file: string): void {
  let leftOut: string | null;
  try {
    leftOut = applyOptimizerState(model, layers, h5, `${file}:model.weights.h5`);
  } catch (err) {
    // The weights loaded: a state that cannot be read or converted costs only the state (any
    // other error is a fault here, not in the file, and is not hidden behind a warning).
    if (!(err instanceof WeightImportError || err instanceof Hdf5Error)) throw err;
    leftOut = err.message;
  }
  if (leftOut) process.emitWarning(`${file}: the optimizer's saved state is not restored (${leftOut}); training continues from the weights with a fresh optimizer`, { code: 'CUDNN_GRU_KERAS_OPTIMIZER_STATE' });
}

/** restoreOptimizerState's work: null when the state is restored or none was saved, else why it is left out. */
function applyOptimizerState(model: Sequential | Model, layers: KerasGraphLayer[], h5: Hdf5File, source: string): string | null {
  const optimizer = h5.root.get('optimizer');
  if (optimizer?.kind !== 'group') return null;
  const saved = kerasVars(optimizer);
  const iterations = Number(saved[0]?.read()[0] ?? 0);
  const state = saved.slice(2);
  // The iteration count and the learning rate only: the optimizer never ran, or keeps no slots
  // (SGD without momentum), and then only the count goes on.
  if (state.length === 0) return iterations > 0 ? setOptimizerState(model, { iterations, slots: model.params.map(() => []) }) : null;
  const root = h5.root.get('layers') as Hdf5Group;
  const variables = layers
    .filter((l) => l.layer.config.trainable !== false)
    .flatMap((l) => {
      const g = root.get(l.weightsGroup);
      return g?.kind === 'group' ? kerasLayerVariables(g) : [];
    });
  const n = variables.length;
  const perVariable = n ? state.length / n : 0;
  if (!Number.isInteger(perVariable) || perVariable < 1) return `${state.length} slot variables for ${n} trainable variables`;
  const byVariable = (slot: number, i: number) => state[i * perVariable + slot]!;
  const bySlot = (slot: number, i: number) => state[slot * n + i]!;
  const fits = (at: typeof byVariable) => variables.every((v, i) => Array.from({ length: perVariable }, (_, j) => at(j, i)).every((d) => d.shape.join() === v.shape.join()));
  const layouts = [byVariable, bySlot].filter(fits);
  if (layouts.length === 0) return 'its slots do not have the shapes of the trainable variables';
  if (layouts.length === 2 && perVariable > 1 && n > 1) return 'the order of its slots cannot be told from their shapes';
  const at = layouts[0]!;
  const slots = layerSlotsOf(model.layers);
  const mapping = weightsGroups(slots, layers);
  const perSlot = Array.from({ length: perVariable }, (_, j) => {
    const values = new Map(variables.map((v, i) => [v.path, f32(at(j, i), source)]));
    // Variables outside the state (frozen layers') read as zeros: their parameters get no slots.
    const modules = kerasModules(h5, source, (ds) => values.get(ds.path) ?? new Float32Array(ds.shape.reduce((a, b) => a * b, 1)));
    return assignModules(slots.map((s) => s.slot), modules, { format: 'keras', mapping, source });
  });
  const slotsOf = new Map<L.Param, Float32Array[]>();
  for (const { slot, params } of slots) {
    for (const p of params) {
      const key = p.name.slice(p.name.lastIndexOf('/') + 1);
      slotsOf.set(p, p.trainable ? perSlot.map((values) => values.get(slot.name)![key]!) : []);
    }
  }
  return setOptimizerState(model, { iterations, slots: model.params.map((p) => slotsOf.get(p) ?? []) });
}

/** The state into the compiled optimizer: null, or why it does not take it (another slot count: an edited config). */
function setOptimizerState(model: Sequential | Model, state: { iterations: number; slots: Float32Array[][] }): string | null {
  try {
    model.optimizer!.setState(model.params, state);
    return null;
  } catch (err) {
    if (err instanceof TypeError) return err.message;
    throw err;
  }
}

function compileFrom(model: Sequential | Model, graph: KerasModelGraph, file: string): void {
  let note = graph.trainingNote;
  if (graph.training) {
    const { optimizer, loss, metrics } = graph.training;
    try {
      // Keras applies one loss to every output.
      if (model instanceof Model) model.compile({ optimizer: optimizerFromConfig(optimizer), loss: model.outputNames.map(() => loss), metrics });
      else model.compile({ optimizer: optimizerFromConfig(optimizer), loss, metrics });
    } catch (err) {
      note = (err as Error).message;
    }
  }
  if (note) process.emitWarning(`${file}: the model is loaded uncompiled: its training config cannot be used (${note}); call compile() before training`, { code: 'CUDNN_GRU_KERAS_UNCOMPILED' });
}
