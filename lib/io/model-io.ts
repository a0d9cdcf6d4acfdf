// Models ↔ files: save/load (topology + training config + weights + optimizer state), framework
// weight import, ONNX export and checkpoints, for Sequential and functional models. Built on the
// model layer's public surface (layers and their public fields, params, trainingConfig,
// optimizer.getState/setState/getConfig, the training stream's trainingRngState/resumeTrainingRng).
import { describe } from '../backend';
import { native } from '../native';
import { ACTIVATIONS } from '../ops';
import * as L from '../layers';
import type { Param } from '../layers';
import * as O from '../optimizers';
import { Model, input, model as functionalModel } from '../models/model';
import { Sequential } from '../models/sequential';
import type { SymbolicTensor } from '../layers/base';
import { checkOptions, isPlainObject } from '../options';
import { loadArtifacts, saveArtifacts, type HostTensor, type ModelArtifacts } from './artifacts';
import { checkObject, checkPath, preview } from './args';
import { assignModules, type LayerSlot } from './assign';
import { RECURRENT_CELLS, readKerasModules, readTorchModules } from './frameworks';
import { writeOnnxGraph, type OnnxActivation, type OnnxGraph, type OnnxLayerSpec } from './onnx';

export class ModelIoError extends Error {
  override name = 'ModelIoError';
}

function fail(op: string, message: string): never {
  throw new ModelIoError(`${op}: ${message}`);
}

// ------------------------------------------------------------------ topology

export interface LayerConfig {
  className: string;
  config: Record<string, unknown>;
}

export interface ModelTopology {
  className: 'Sequential';
  name: string;
  layers: LayerConfig[];
}

/** Where a functional graph's tensor comes from: a model input, or output `output` of call `node`. */
export type TensorRef = { input: number } | { node: number; output: number };

/**
 * A functional model: its inputs, every layer once (configs), the layer calls in topological order
 * (layer index and input refs), and the output refs. A shared layer has several calls.
 */
export interface FunctionalTopology {
  className: 'Model';
  name: string;
  inputs: Array<{ name: string; shape: Array<number | null>; dtype: 'float32' | 'int32' }>;
  layers: LayerConfig[];
  nodes: Array<{ layer: number; inputs: TensorRef[] }>;
  outputs: TensorRef[];
}

/** A model this module saves and loads. */
export type AnyModel = Sequential | Model;

function layerConfig(layer: L.Layer, first: boolean): LayerConfig {
  const base: Record<string, unknown> = { name: layer.name, trainable: layer.trainable };
  if (first && layer.inputShape) base.inputShape = [...layer.inputShape];
  // GRU, LSTM, SimpleRNN; only functional graphs use returnState (sequential topologies stay as before).
  if (layer instanceof L.FusedRecurrent) return { className: layer.className, config: { ...base, ...layer.getConfig() } };
  if (layer instanceof L.Dense) return { className: 'Dense', config: { ...base, units: layer.units, activation: layer.activation, useBias: layer.useBias } };
  if (layer instanceof L.Activation) return { className: 'Activation', config: { ...base, activation: layer.activation } };
  if (layer instanceof L.Dropout) return { className: 'Dropout', config: { ...base, rate: layer.rate } };
  if (layer instanceof L.Embedding) return { className: 'Embedding', config: { ...base, inputDim: layer.inputDim, outputDim: layer.outputDim, maskZero: layer.maskZero } };
  if (layer instanceof L.TimeDistributed) return { className: 'TimeDistributed', config: { ...base, layer: layerConfig(layer.layer, false) } };
  if (layer instanceof L.Masking) return { className: 'Masking', config: { ...base, maskValue: layer.maskValue } };
  if (layer instanceof L.LayerNormalization) return { className: 'LayerNormalization', config: { ...base, epsilon: layer.epsilon, center: layer.center, scale: layer.scale } };
  if (layer instanceof L.SelectTimestep) return { className: 'SelectTimestep', config: { ...base, index: layer.index } };
  if (layer instanceof L.RepeatVector) return { className: 'RepeatVector', config: { ...base, n: layer.n } };
  if (layer instanceof L.Reshape) return { className: 'Reshape', config: { ...base, targetShape: [...layer.targetShape] } };
  if (layer instanceof L.Flatten) return { className: 'Flatten', config: base };
  if (layer instanceof L.Concatenate) return { className: 'Concatenate', config: { ...base, axis: -1 } };
  if (layer instanceof L.Add || layer instanceof L.Multiply || layer instanceof L.Average) return { className: layer.className, config: base };
  fail('save', `layer '${layer.name}' of class ${layer.className} cannot be saved (no serialiser for it)`);
}

/** The model's architecture as JSON. */
export function modelTopology(model: AnyModel): ModelTopology | FunctionalTopology {
  checkModel('modelTopology', model);
  if (model instanceof Sequential) return { className: 'Sequential', name: model.name, layers: model.layers.map((l, i) => layerConfig(l, i === 0)) };
  const nodeIndex = new Map(model.nodes.map((n, i) => [n, i]));
  const ref = (t: SymbolicTensor): TensorRef => (t.node ? { node: nodeIndex.get(t.node)!, output: t.outputIndex } : { input: model.inputs.indexOf(t) });
  return {
    className: 'Model',
    name: model.name,
    inputs: model.inputs.map((t, i) => ({ name: t.name, shape: [...t.shape], dtype: model.inputDType(i) })),
    layers: model.layers.map((l) => layerConfig(l, false)),
    nodes: model.nodes.map((n) => ({ layer: model.layers.indexOf(n.layer), inputs: n.inputs.map(ref) })),
    outputs: model.outputs.map(ref),
  };
}

/** Layer classes built from their saved config alone (TimeDistributed also needs its inner layer). */
const SAVED_LAYERS: Record<string, new (args: never) => L.Layer> = {
  GRU: L.GRU, LSTM: L.LSTM, SimpleRNN: L.SimpleRNN, Dense: L.Dense, Activation: L.Activation, Dropout: L.Dropout, Embedding: L.Embedding, Masking: L.Masking, SelectTimestep: L.SelectTimestep,
  Concatenate: L.Concatenate, Add: L.Add, Multiply: L.Multiply, Average: L.Average, RepeatVector: L.RepeatVector, Reshape: L.Reshape, Flatten: L.Flatten,
  LayerNormalization: L.LayerNormalization,
};

export function layerFromConfig(c: LayerConfig, where: string): L.Layer {
  if (typeof c !== 'object' || c === null || typeof c.className !== 'string' || typeof c.config !== 'object' || c.config === null) {
    fail('loadModel', `${where}: not a layer config: ${preview(c)}`);
  }
  const cfg = { ...c.config } as Record<string, unknown>;
  try {
    if (Object.hasOwn(SAVED_LAYERS, c.className)) return new SAVED_LAYERS[c.className]!(cfg as never);
    if (c.className === 'TimeDistributed') {
      const inner = layerFromConfig(cfg.layer as LayerConfig, `${where}.layer`);
      delete cfg.layer;
      return new L.TimeDistributed(inner, cfg as L.LayerArgs);
    }
  } catch (err) {
    fail('loadModel', `${where} (${c.className}): ${(err as Error).message}`);
  }
  fail('loadModel', `${where}: unknown layer class '${c.className}'`);
}

/** A functional model from its topology: the inputs, then each call replayed in order. */
function functionalFromTopology(t: FunctionalTopology): Model {
  if (!Array.isArray(t.inputs) || !Array.isArray(t.layers) || !Array.isArray(t.nodes) || !Array.isArray(t.outputs)) fail('loadModel', `the functional topology lacks inputs, layers, nodes or outputs: ${preview(t)}`);
  const layers: L.Layer[] = [];
  try {
    t.layers.forEach((c, i) => layers.push(layerFromConfig(c, `layer ${i}`)));
    const inputs = t.inputs.map((i, k) => {
      try {
        return input({ shape: i.shape, dtype: i.dtype, name: i.name });
      } catch (err) {
        fail('loadModel', `input ${k}: ${(err as Error).message}`);
      }
    });
    const outs: SymbolicTensor[][] = [];
    const resolve = (r: TensorRef, where: string): SymbolicTensor => {
      const got = r && 'input' in r ? inputs[r.input] : r && 'node' in r ? outs[r.node]?.[r.output] : undefined;
      if (!got) fail('loadModel', `${where}: reference ${preview(r)} names no earlier tensor`);
      return got;
    };
    t.nodes.forEach((n, k) => {
      const layer = layers[n?.layer];
      if (!layer || !Array.isArray(n.inputs)) fail('loadModel', `node ${k}: not a layer call: ${preview(n)}`);
      const made = layer.apply(n.inputs.map((r, j) => resolve(r, `node ${k} input ${j}`)));
      outs.push(Array.isArray(made) ? made : [made]);
    });
    return functionalModel({ inputs, outputs: t.outputs.map((r, j) => resolve(r, `output ${j}`)), name: typeof t.name === 'string' ? t.name : undefined });
  } catch (err) {
    for (const l of layers) l.dispose();
    throw err;
  }
}

/** A new, built model from a topology (fresh initial weights). */
export function modelFromTopology(topology: unknown): AnyModel {
  if (typeof topology === 'object' && topology !== null && (topology as { className?: unknown }).className === 'Model') return functionalFromTopology(topology as FunctionalTopology);
  const t = topology as ModelTopology;
  if (typeof t !== 'object' || t === null || t.className !== 'Sequential' || !Array.isArray(t.layers)) {
    fail('loadModel', `the topology is not a Sequential model: ${preview(topology)}`);
  }
  const layers: L.Layer[] = [];
  try {
    t.layers.forEach((c, i) => layers.push(layerFromConfig(c, `layer ${i}`)));
    return new Sequential({ name: typeof t.name === 'string' ? t.name : undefined, layers });
  } catch (err) {
    for (const l of layers) l.dispose();
    throw err;
  }
}

// ------------------------------------------------------------------ weights and optimizer state

function readParam(p: Param): HostTensor {
  return { shape: [...p.value.shape], data: p.value.dataSync() as Float32Array };
}

function namedWeights(model: AnyModel, op: string): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const p of model.params) {
    if (out.has(p.name)) fail(op, `two weights are named '${p.name}' (two layers share the name '${p.name.split('/')[0]}'); give layers unique names`);
    out.set(p.name, readParam(p));
  }
  return out;
}

/** Writes saved weights into the model's parameters, checking names and shapes. */
function restoreWeights(model: AnyModel, weights: Map<string, HostTensor>, op: string, source: string): void {
  const params = model.params;
  const names = new Set(params.map((p) => p.name));
  const missing = params.filter((p) => !weights.has(p.name)).map((p) => p.name);
  const extra = [...weights.keys()].filter((k) => !names.has(k));
  if (missing.length || extra.length) {
    fail(op, `${source}: the weights do not fit the model${missing.length ? `; missing: ${missing.join(', ')}` : ''}${extra.length ? `; not in the model: ${extra.join(', ')}` : ''}`);
  }
  for (const p of params) {
    const w = weights.get(p.name)!;
    if (w.shape.length !== p.value.shape.length || w.shape.some((d, i) => d !== p.value.shape[i])) {
      fail(op, `${source}: weight '${p.name}' has shape [${w.shape}] but the model's is [${p.value.shape}]`);
    }
    if (!(w.data instanceof Float32Array)) fail(op, `${source}: weight '${p.name}' is not float32`);
  }
  for (const p of params) native.write(p.value.handle(op), weights.get(p.name)!.data);
}

function optimizerConfig(config: Record<string, unknown>): Record<string, unknown> {
  if (config.learningRate !== null) return config;
  return { ...config, learningRateSchedule: 'a function (not saved: pass the optimizer again to compile after loading)' };
}

export function optimizerFromConfig(config: Record<string, unknown>): O.Optimizer {
  const args: Record<string, unknown> = { ...config };
  delete args.className;
  delete args.learningRateSchedule;
  if (args.learningRate === null) delete args.learningRate;
  switch (config.className) {
    case 'sgd': return O.sgd(args);
    case 'adam': return O.adam(args);
    case 'adamw': return O.adamw(args);
    case 'rmsprop': return O.rmsprop(args);
  }
  fail('loadModel', `unknown optimizer '${String(config.className)}' in the training config`);
}

/** Optimizer slots as named tensors: '<param>/slot<j>', plus 'iterations'. */
function optimizerState(model: AnyModel): Map<string, HostTensor> | null {
  const opt = model.optimizer;
  if (!opt) return null;
  const params = model.params;
  const { iterations, slots } = opt.getState(params);
  const out = new Map<string, HostTensor>();
  out.set('iterations', { shape: [], data: new Int32Array([iterations]) });
  params.forEach((p, i) => slots[i]!.forEach((t, j) => out.set(`${p.name}/slot${j}`, { shape: [...t.shape], data: t.dataSync() as Float32Array })));
  return out;
}

/** Restores optimizer state (iterations and slots) saved by optimizerState(). */
function restoreOptimizerState(model: AnyModel, state: Map<string, HostTensor>, source: string): void {
  const opt = model.optimizer;
  if (!opt) fail('loadModel', `${source}: optimizer state present but the model is not compiled`);
  const it = state.get('iterations');
  const iterations = it ? Number(it.data[0]) : 0;
  const params = model.params;
  const slots: Float32Array[][] = params.map((p) => {
    const list: Float32Array[] = [];
    for (let j = 0; state.has(`${p.name}/slot${j}`); j++) {
      const s = state.get(`${p.name}/slot${j}`)!;
      if (s.data.length !== p.value.size) fail('loadModel', `${source}: optimizer slot '${p.name}/slot${j}' has ${s.data.length} values, the parameter ${p.value.size}`);
      if (!(s.data instanceof Float32Array)) fail('loadModel', `${source}: optimizer slot '${p.name}/slot${j}' is not float32`);
      list.push(s.data);
    }
    return list;
  });
  const known = new Set(['iterations', ...params.flatMap((p, i) => slots[i]!.map((_, j) => `${p.name}/slot${j}`))]);
  const extra = [...state.keys()].filter((k) => !known.has(k));
  if (extra.length) fail('loadModel', `${source}: optimizer state for unknown parameters: ${extra.join(', ')}`);
  try {
    opt.setState(params, { iterations, slots });
  } catch (err) {
    fail('loadModel', `${source}: ${(err as Error).message}`);
  }
}

function trainingConfig(model: AnyModel): Record<string, unknown> | null {
  const tc = model.trainingConfig;
  return tc && { ...tc, optimizer: optimizerConfig(tc.optimizer) };
}

// ------------------------------------------------------------------ save / load

export interface SaveOptions {
  /** Save the optimizer's state (default true when the model is compiled). */
  includeOptimizer?: boolean;
  /** Checkpoint progress to record (epoch, ...). */
  training?: Record<string, unknown>;
  /** Replace a directory holding a newer format version or a foreign model.json (default false). */
  overwrite?: boolean;
  /** How long to wait while another process saves into the same directory, in ms (default 60000). */
  lockTimeoutMs?: number;
}
const SAVE_OPTIONS = ['includeOptimizer', 'training', 'overwrite', 'lockTimeoutMs'] as const;

function checkModel(op: string, model: unknown): asserts model is AnyModel {
  if (!(model instanceof Sequential) && !(model instanceof Model)) throw new TypeError(`${op}: argument 'model' must be a Sequential or functional model, got ${describe(model)}`);
}


function checkOptionType(op: string, name: string, value: unknown, expected: string, ok: boolean): void {
  if (value !== undefined && !ok) throw new TypeError(`${op}: option '${name}' must be ${expected}, got ${describe(value)}`);
}

function checkSaveOptions(options: SaveOptions): void {
  checkOptions('save', options, SAVE_OPTIONS);
  const { includeOptimizer, training, overwrite, lockTimeoutMs } = options;
  checkOptionType('save', 'includeOptimizer', includeOptimizer, 'a boolean', typeof includeOptimizer === 'boolean');
  checkOptionType('save', 'overwrite', overwrite, 'a boolean', typeof overwrite === 'boolean');
  checkOptionType('save', 'lockTimeoutMs', lockTimeoutMs, 'a non-negative number of milliseconds', typeof lockTimeoutMs === 'number' && lockTimeoutMs >= 0 && lockTimeoutMs <= 2 ** 31);
  checkOptionType('save', 'training', training, 'a plain object of JSON values', isPlainObject(training));
  const epoch = training?.epoch;
  checkOptionType('save', 'training.epoch', epoch, 'a non-negative integer', Number.isSafeInteger(epoch) && (epoch as number) >= 0);
}

/** Saves the model into `dir` crash-safely (see docs/io.md). */
export function saveModel(model: AnyModel, dir: string, options: SaveOptions = {}): void {
  checkModel('save', model);
  checkPath('save', 'dir', dir);
  checkSaveOptions(options);
  if (!model.built) fail('save', 'the model is not built yet (give the first layer an inputShape, or fit/predict once)');
  const includeOptimizer = options.includeOptimizer ?? true;
  const state = includeOptimizer ? optimizerState(model) : null;
  const artifacts: ModelArtifacts = {
    topology: modelTopology(model),
    trainingConfig: trainingConfig(model),
    weights: namedWeights(model, 'save'),
    optimizer: state ? { config: optimizerConfig(model.optimizer!.getConfig()), state } : null,
    training: options.training ?? null,
  };
  saveArtifacts(dir, artifacts, { producer: `cudnn-gru ${packageVersion()}`, overwrite: options.overwrite, lockTimeoutMs: options.lockTimeoutMs });
}

function packageVersion(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return String(require('../../package.json').version);
  } catch {
    return '';
  }
}

export interface LoadOptions {
  /** Compile with the saved training config and restore optimizer state (default true). */
  compile?: boolean;
}
const LOAD_OPTIONS = ['compile'] as const;

/**
 * Loads a model saved by saveModel(): same architecture, weights and (compiled) optimizer state.
 * Typed as a Sequential unless told: `loadModel<Model>(dir)` for a functional model (what comes
 * back is whichever was saved; check with instanceof when unsure).
 */
export function loadModel<M extends AnyModel = Sequential>(dir: string, options: LoadOptions = {}): M {
  checkPath('loadModel', 'dir', dir);
  checkOptions('loadModel', options, LOAD_OPTIONS);
  checkOptionType('loadModel', 'compile', options.compile, 'a boolean', typeof options.compile === 'boolean');
  const a = loadArtifacts(dir);
  const model = modelFromTopology(a.topology);
  try {
    if (!model.built) fail('loadModel', `${dir}: the saved topology does not build (first layer without inputShape)`);
    restoreWeights(model, a.weights, 'loadModel', dir);
    const tc = a.trainingConfig as { loss: unknown; metrics: string[]; optimizer: Record<string, unknown> } | null;
    if ((options.compile ?? true) && tc) {
      const optimizer = optimizerFromConfig(a.optimizer?.config as Record<string, unknown> ?? tc.optimizer);
      if (model instanceof Sequential) model.compile({ loss: tc.loss as never, metrics: tc.metrics, optimizer });
      else model.compile({ loss: tc.loss as never, metrics: tc.metrics as never, lossWeights: (tc as { lossWeights?: number[] }).lossWeights, optimizer });
      if (a.optimizer) restoreOptimizerState(model, a.optimizer.state, dir);
    }
    return model as M;
  } catch (err) {
    model.dispose();
    throw err;
  }
}

// ------------------------------------------------------------------ checkpoints

export interface CheckpointInfo {
  /** The last completed epoch (0-based). */
  epoch: number;
  /** The training stream's state after that epoch (model.trainingRngState); null in checkpoints that lack it. */
  rng: number | null;
  logs?: Record<string, number>;
  [key: string]: unknown;
}

/** Saves a training checkpoint: the model, its optimizer state, the RNG state and the epoch. */
export function saveCheckpoint(model: AnyModel, dir: string, info: { epoch: number; logs?: Record<string, number>; [k: string]: unknown }): void {
  checkModel('saveCheckpoint', model);
  checkObject('saveCheckpoint', 'info', info, '{epoch, logs?}');
  if (!Number.isInteger(info.epoch) || info.epoch < 0) throw new TypeError(`saveCheckpoint: info.epoch must be a non-negative integer (the last completed epoch), got ${describe(info.epoch)}`);
  saveModel(model, dir, { includeOptimizer: true, training: { ...info, rng: model.trainingRngState } });
}

/**
 * Restores a checkpoint into a compiled model of the same architecture: weights, optimizer state
 * and RNG state. Returns the epoch to continue from (last completed + 1).
 */
export function restoreCheckpoint(model: AnyModel, dir: string): { initialEpoch: number; info: CheckpointInfo; rngRestored: boolean } {
  checkModel('resumeFrom', model);
  checkPath('resumeFrom', 'dir', dir);
  const a = loadArtifacts(dir);
  const info = a.training as CheckpointInfo | null;
  if (!info || typeof info.epoch !== 'number') fail('resumeFrom', `${dir} is a saved model, not a training checkpoint (no epoch recorded)`);
  if (!model.optimizer) fail('resumeFrom', 'compile the model before resuming (the optimizer state is restored into it)');
  const saved = JSON.stringify(a.topology);
  const ours = JSON.stringify(modelTopology(model));
  if (saved !== ours) {
    const strip = (t: unknown) => JSON.stringify(t, (k, v) => (k === 'name' ? undefined : v));
    if (strip(a.topology) !== strip(modelTopology(model))) fail('resumeFrom', `${dir}: the checkpoint's architecture differs from the model's`);
  }
  // Layer names may differ between processes (automatic numbering): map by position.
  const params = model.params;
  const savedNames = [...a.weights.keys()];
  if (savedNames.length !== params.length) fail('resumeFrom', `${dir}: ${savedNames.length} weights saved, the model has ${params.length}`);
  const rename = new Map(savedNames.map((n, i) => [n, params[i]!.name]));
  const weights = new Map([...a.weights].map(([k, v]) => [rename.get(k)!, v]));
  restoreWeights(model, weights, 'resumeFrom', dir);
  if (a.optimizer) {
    const state = new Map([...a.optimizer.state].map(([k, v]) => {
      const m = /^(.*)\/(slot\d+)$/.exec(k);
      return [m && rename.has(m[1]!) ? `${rename.get(m[1]!)}/${m[2]}` : k, v] as [string, HostTensor];
    }));
    restoreOptimizerState(model, state, dir);
  }
  // Checkpoints written before the RNG state was recorded have rng: null.
  const rngRestored = typeof info.rng === 'number';
  if (rngRestored) model.resumeTrainingRng(info.rng as number);
  return { initialEpoch: info.epoch + 1, info, rngRestored };
}

// ------------------------------------------------------------------ framework weights

export interface LoadWeightsOptions {
  /** 'torch' (a state dict in safetensors) or 'keras' (a Keras 3 .weights.h5); by extension when omitted. */
  format?: 'torch' | 'keras';
  /** Our layer name → the source module name(s) (state-dict prefix, or Keras group under /layers). */
  mapping?: Record<string, string | string[]>;
}
const LOAD_WEIGHTS_OPTIONS = ['format', 'mapping'] as const;

function checkMapping(mapping: unknown): void {
  const ok = isPlainObject(mapping) && Object.values(mapping).every((v) => typeof v === 'string' || (Array.isArray(v) && v.length > 0 && v.every((n) => typeof n === 'string')));
  checkOptionType('loadWeights', 'mapping', mapping, 'an object of layer name → module name (or a non-empty array of names)', ok);
}

/** The layers with weights, as slots for assignModules(). */
export function layerSlots(model: AnyModel): { slot: LayerSlot; params: Param[] }[] {
  checkModel('layerSlots', model);
  return layerSlotsOf(model.layers);
}

/** layerSlots() for any list of layers (a functional model's). */
export function layerSlotsOf(layers: readonly L.Layer[]): { slot: LayerSlot; params: Param[] }[] {
  const out: { slot: LayerSlot; params: Param[] }[] = [];
  for (const layer of layers) {
    const params = layer.params;
    if (!params.length) continue;
    const shapes = Object.fromEntries(params.map((p) => [p.name.slice(p.name.lastIndexOf('/') + 1), [...p.value.shape]]));
    let family: LayerSlot['family'];
    if (layer instanceof L.FusedRecurrent) family = layer.bidirectional ? 'bidirectional' : RECURRENT_CELLS[layer.cell].family;
    else if (layer instanceof L.Dense) family = 'dense';
    else if (layer instanceof L.TimeDistributed && layer.layer instanceof L.Dense) family = 'time_distributed';
    else if (layer instanceof L.Embedding) family = 'embedding';
    else if (layer instanceof L.LayerNormalization) family = 'layer_normalization';
    else fail('loadWeights', `layer '${layer.name}' (${layer.className}) has weights but no framework mapping`);
    out.push({ slot: { name: layer.name, family, shapes, ...(layer instanceof L.FusedRecurrent ? { numLayers: layer.numLayers, cell: layer.cell } : {}) }, params });
  }
  return out;
}

/**
 * Loads PyTorch or Keras weights into the model's layers (see docs/io.md for the matching rules).
 * The model must be built. Nothing is written unless every layer gets valid weights.
 */
export function loadWeights(model: AnyModel, file: string, options: LoadWeightsOptions = {}): void {
  checkModel('loadWeights', model);
  checkPath('loadWeights', 'file', file);
  checkOptions('loadWeights', options, LOAD_WEIGHTS_OPTIONS);
  checkMapping(options.mapping);
  if (!model.built) fail('loadWeights', 'the model is not built yet (give the first layer an inputShape)');
  const format = options.format ?? (/\.h5$/i.test(file) ? 'keras' : /\.safetensors$/i.test(file) ? 'torch' : undefined);
  if (format !== 'torch' && format !== 'keras') fail('loadWeights', `options.format must be 'torch' or 'keras' (cannot tell from the name ${file})`);
  const modules = format === 'torch' ? readTorchModules(file) : readKerasModules(file);
  const slots = layerSlots(model);
  writeLayerWeights(slots, assignModules(slots.map((s) => s.slot), modules, { format, mapping: options.mapping, source: file }), 'loadWeights');
}

/** Writes assignModules() values into the slots' parameters. */
export function writeLayerWeights(slots: { slot: LayerSlot; params: Param[] }[], values: Map<string, Record<string, Float32Array>>, op: string): void {
  for (const { slot, params } of slots) {
    const v = values.get(slot.name)!;
    for (const p of params) {
      const key = p.name.slice(p.name.lastIndexOf('/') + 1);
      native.write(p.value.handle(op), v[key]!);
    }
  }
}

// ------------------------------------------------------------------ ONNX

function onnxActivation(layer: string, a: string): OnnxActivation {
  if (!(ACTIVATIONS as readonly string[]).includes(a)) fail('exportOnnx', `layer '${layer}': activation '${a}' has no ONNX export`);
  return a as OnnxActivation;
}

/** One layer as an ONNX spec (weights copied to the host); refuses what has no export, naming the layer. */
function onnxSpec(layer: L.Layer, options: { ignoreMasking?: boolean }): OnnxLayerSpec {
  const host = (p: Param) => p.value.dataSync() as Float32Array;
  const inner = layer instanceof L.TimeDistributed ? layer.layer : layer;
  if (inner instanceof L.FusedRecurrent) {
    // GRU, LSTM, SimpleRNN: PyTorch's names, layouts and gate orders, as the ONNX specs take them
    const params = Object.fromEntries(Object.entries(inner.pytorchParams()).map(([k, t]) => [k, t.dataSync() as Float32Array]));
    const spec = {
      inputSize: inner.inputShape![1] as number, hiddenSize: inner.units, numLayers: inner.numLayers, bidirectional: inner.bidirectional,
      mergeMode: inner.mergeMode, returnSequences: inner.returnSequences, returnState: inner.returnState, goBackwards: inner.goBackwards, params,
    };
    return inner instanceof L.SimpleRNN ? { type: 'rnn', ...spec, activation: inner.activation } : { type: inner.cell as 'gru' | 'lstm', ...spec };
  }
  if (inner instanceof L.Dense) {
    const [k, b] = inner.params;
    return { type: 'dense', inputSize: k!.value.shape[0]!, units: inner.units, kernel: host(k!), bias: b ? host(b) : null, activation: onnxActivation(inner.name, inner.activation) };
  }
  if (inner instanceof L.LayerNormalization) {
    const { gamma, beta } = inner;
    return { type: 'layerNormalization', size: inner.inputShape![inner.inputShape!.length - 1] as number, epsilon: inner.epsilon, gamma: gamma ? host(gamma) : null, beta: beta ? host(beta) : null };
  }
  if (inner instanceof L.Activation) return { type: 'activation', activation: onnxActivation(inner.name, inner.activation) };
  if (inner instanceof L.Dropout) return { type: 'identity' };
  if (inner instanceof L.SelectTimestep) return { type: 'selectTimestep', index: inner.index };
  // Masks export as the lengths they compute, unless ignoreMasking drops them (for unpadded input).
  if (inner instanceof L.Embedding) return { type: 'embedding', inputDim: inner.inputDim, outputDim: inner.outputDim, embeddings: host(inner.params[0]!), maskZero: inner.maskZero && !options.ignoreMasking };
  if (inner instanceof L.Masking) return options.ignoreMasking ? { type: 'identity' } : { type: 'masking', maskValue: inner.maskValue };
  if (inner instanceof L.Concatenate) return { type: 'merge', mode: 'concatenate' };
  if (inner instanceof L.Add) return { type: 'merge', mode: 'add' };
  if (inner instanceof L.Multiply) return { type: 'merge', mode: 'multiply' };
  if (inner instanceof L.Average) return { type: 'merge', mode: 'average' };
  if (inner instanceof L.RepeatVector) return { type: 'repeatVector', n: inner.n };
  if (inner instanceof L.Reshape) return { type: 'reshape', targetShape: [...inner.targetShape] };
  if (inner instanceof L.Flatten) return { type: 'flatten' };
  return fail('exportOnnx', `layer '${layer.name}' (${layer.className}) has no ONNX export`);
}

/**
 * The model as an ONNX graph of layer calls in topological order (weights copied to the host;
 * a shared layer is one spec, so its calls share initializers). A Sequential model's graph takes
 * `input` and gives `output`; a functional model's inputs and outputs keep the model's names
 * (inputNames, outputNames). Nested models are already inlined in the outer graph's calls.
 */
export function onnxGraph(model: AnyModel, options: { ignoreMasking?: boolean } = {}): OnnxGraph {
  checkModel('onnxGraph', model);
  checkOptions('onnxGraph', options, ['ignoreMasking']);
  if (!model.built) fail('exportOnnx', 'the model is not built yet');
  const specs = new Map<L.Layer, OnnxLayerSpec>();
  const specOf = (layer: L.Layer): OnnxLayerSpec => {
    if (!specs.has(layer)) specs.set(layer, onnxSpec(layer, options));
    return specs.get(layer)!;
  };
  // Call outputs are keyed apart from input names ('#' and the symbolic tensor's id).
  if (model instanceof Sequential) {
    const { layers } = model;
    return {
      inputs: [{ name: 'input', shape: [...layers[0]!.inputShape!], dtype: layers[0]!.inputDType }],
      nodes: layers.map((l, i) => ({ spec: specOf(l), inputs: [i ? `#${i - 1}` : 'input'], outputs: [`#${i}`], name: l.name })),
      outputs: [{ name: 'output', value: `#${layers.length - 1}` }],
    };
  }
  const key = (t: SymbolicTensor) => (t.node ? `#${t.id}` : t.name);
  return {
    inputs: model.inputs.map((t, i) => ({ name: t.name, shape: [...t.shape], dtype: model.inputDType(i) })),
    nodes: model.nodes.map((n) => ({ spec: specOf(n.layer), inputs: n.inputs.map(key), outputs: n.outputs.map(key), name: n.layer.name })),
    outputs: model.outputs.map((t, i) => ({ name: model.outputNames[i]!, value: key(t) })),
  };
}

/** Writes the model as an ONNX file (atomically). */
export function exportOnnx(model: AnyModel, file: string, options: { opset?: number; ignoreMasking?: boolean } = {}): void {
  checkModel('exportOnnx', model);
  checkOptions('exportOnnx', options, ['opset', 'ignoreMasking']);
  checkPath('exportOnnx', 'file', file);
  writeOnnxGraph(file, onnxGraph(model, { ignoreMasking: options.ignoreMasking }), { opset: options.opset, producerVersion: packageVersion(), graphName: model.name });
}
