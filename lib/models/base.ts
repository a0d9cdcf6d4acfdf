// What every model of layers has, whatever its wiring (tfjs' LayersModel): the layers and their
// parameters, the device, the optimizer, weights in and out, saving, and disposal.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeviceName } from '../../binding';
import { describe, getDevice } from '../backend';
import type * as ModelIo from '../io/model-io';
import { endScope, startScope, tidy } from '../engine';
import { FusedRecurrent, type GraphNode, type Layer, type Param } from '../layers';
import * as ops from '../ops';
import type { Optimizer } from '../optimizers';
import { Rng, getRngState, globalRng } from '../random';
import type { Logs } from '../callbacks';
import { Tensor, tensor } from '../tensor';
import { fitDatasetOptions, writeWeights, type FitDatasetArgs } from '../training/arguments';
import { batchSlice, hostData, type Data, type HostData } from '../training/data';
import { History, fail, sourceEpochs, trainLoop, weightedMeans, type BatchSource, type StepBatch } from '../training/engine';
import { clearSaved, type Graph } from '../training/graph';
import { lossAndMetricsInto, outputLogs, outputSlots, withFused, type OutputLoss } from '../training/loss';

/**
 * lib/io/model-io, loaded on first use: it imports the model classes, which extend this one, so a
 * load-time import here would make whichever module loads first see the other half-built.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const modelIo = (): typeof ModelIo => require('../io/model-io');

export abstract class LayersModel {
  abstract readonly name: string;
  /** Every layer once, in order. */
  abstract readonly layers: Layer[];
  /** The output names (a layer's, with :i for a layer's i-th output when it has several); several outputs name their logs by them. */
  abstract readonly outputNames: string[];
  optimizer: Optimizer | null = null;
  /** What compile() set: each output's loss and metrics (null before), and each loss's weight in the total loss. */
  protected outputLosses: OutputLoss[] | null = null;
  protected lossWeights: number[] = [];
  /** Set by a callback to end training after the current batch. */
  stopTraining = false;
  /** Set by dispose(): every method then throws instead of silently re-initialising the layers. */
  protected disposed = false;
  /**
   * The random stream of the running (or last) fit: shuffling and dropout seeds. Each fit draws
   * it from the global generator when it starts, so concurrent fits do not share draws.
   */
  private trainingRng: Rng | null = null;
  /** A checkpoint's stream state for the next fit to continue (resumeTrainingRng). */
  private resumedRngState: number | null = null;

  /** The training stream's state, which checkpoints save: the current (or last) fit's, else the global generator's. */
  get trainingRngState(): number {
    return this.trainingRng?.getState() ?? getRngState();
  }

  /** Makes the next fit continue a checkpoint's training stream instead of drawing a new one (restoreCheckpoint). */
  resumeTrainingRng(state: number): void {
    this.resumedRngState = state >>> 0;
  }

  /** This fit's random stream: drawn from the global generator now, or the checkpoint's it continues. */
  protected startTrainingRng(): Rng {
    const rng = new Rng(globalRng.nextStreamSeed());
    if (this.resumedRngState !== null) rng.setState(this.resumedRngState);
    this.resumedRngState = null;
    this.trainingRng = rng;
    return rng;
  }

  /**
   * fit's resumeFrom: when the directory holds a checkpoint, its weights, optimizer and RNG state
   * are restored and the epoch after its epoch is returned; otherwise `initialEpoch`.
   */
  protected resumeEpoch(fn: string, dir: unknown, initialEpoch: number): number {
    if (dir === undefined) return initialEpoch;
    if (typeof dir !== 'string' || !dir) fail(`${fn}: 'resumeFrom' must be a checkpoint directory, got ${describe(dir)}`);
    if (!fs.existsSync(path.join(dir, 'model.json'))) return initialEpoch;
    return modelIo().restoreCheckpoint(this as never, dir).initialEpoch;
  }

  /** Throws when the model was disposed: its parameters are gone and must not be re-created behind the caller's back. */
  protected assertLive(method: string): void {
    if (this.disposed) throw new Error(`model: this model was disposed (${method} called after dispose()); build or load a new model`);
  }

  /** Throws when the model was disposed (the training loop checks it before every step). */
  assertUsable(fn: string): void {
    this.assertLive(fn);
  }

  get params(): Param[] {
    return this.layers.flatMap((l) => l.params);
  }

  /**
   * The device the model computes on: its parameters' (made on the current device when the model
   * was built), or the current device for a model without parameters. Batches are put there.
   */
  get device(): DeviceName {
    let first: Param | null = null;
    for (const l of this.layers) {
      for (const p of l.params) {
        if (p.value.isDisposed) continue;
        if (!first) first = p;
        else if (p.value.device !== first.value.device) {
          fail(`model: its parameters are on two devices (${first.name} on ${first.value.device}, ${p.name} on ${p.value.device}): build every layer while one device is current (setDevice() before creating the model)`);
        }
      }
    }
    return first ? first.value.device : getDevice();
  }

  /** A batch [start, end) of host data (in `order` when given) as a tensor on the model's device. */
  protected batchTensor(d: HostData, order: Int32Array | null, start: number, end: number): Tensor {
    const slice = batchSlice(d.data, d.perSample, order, start, end);
    const t = tensor(slice, [end - start, ...d.shape.slice(1)], d.data instanceof Int32Array ? 'int32' : 'float32', { device: this.device });
    this.hostCopies.set(t, slice);
    return t;
  }

  /**
   * predict's batches of one input. A float32 tensor on the model's device, for a float32 input,
   * is batched where it lies (itself when one batch holds it, else row slices) instead of going to
   * the host and back (at B64 T100 I128 that round trip and its scan took 4 of a 27 ms predict). It
   * is checked for NaN and ±Inf where it lies (ops.allFinite); a non-finite one goes the host way,
   * whose check says where the bad value is, and so do token ids (small, and their host copy
   * serves the embedding's mask).
   */
  protected predictInput(what: string, x: unknown, dtype: 'float32' | 'int32'): PredictInput {
    if (dtype === 'float32' && x instanceof Tensor && !x.isDisposed && x.dtype === 'float32' && x.device === this.device && x.rank >= 1 && x.shape[0]! > 0) {
      if (ops.allFinite(x)) {
        const n = x.shape[0]!;
        return { shape: [...x.shape], batch: (start, end) => (start === 0 && end === n ? x : ops.sliceFirst(x, start, end - start)) };
      }
    }
    const host = hostData(x as Data, what, dtype);
    return { shape: host.shape, batch: (start, end) => this.batchTensor(host, null, start, end) };
  }

  /** Host copies of the batches made by batchTensor(), for layers that look at input values. */
  private hostCopies = new WeakMap<Tensor, Float32Array | Int32Array>();
  protected hostOf = (t: Tensor): Float32Array | Int32Array | undefined => this.hostCopies.get(t);

  countParams(): number {
    this.assertLive('countParams');
    return this.layers.reduce((s, l) => s + l.countParams(), 0);
  }

  /**
   * A stateful recurrent layer carries each batch's final states into the next batch, so every
   * batch of a call must have one size (the validation's too: they continue the training batches'
   * states). Checked before anything runs: a short last batch, or validation batches of another
   * size, would otherwise fail there, after the batches before had trained or moved the states.
   * `samples` in batches of `batchSize` (x), then fit's validation data, if any.
   */
  protected checkStatefulBatches(fn: string, samples: number, batchSize: number, validation?: { samples: number; batchSize: number } | null): void {
    const layer = this.layers.find((l) => l instanceof FusedRecurrent && l.stateful);
    if (!layer) return;
    const passes = [{ what: 'x', samples, batchSize }, ...(validation ? [{ what: 'the validation data', ...validation }] : [])];
    let size = 0;
    let sizeOf = '';
    for (const { what, samples, batchSize } of passes) {
      const batch = Math.min(samples, batchSize);
      if (samples % batch !== 0) {
        fail(`${fn}: layer '${layer.name}' is stateful, so all its batches need one size, but the ${samples} samples of ${what} in batches of ${batchSize} leave a last batch of ${samples % batch}; give a multiple of ${batchSize} samples (or a batch size that divides ${samples})`);
      }
      if (size && batch !== size) {
        fail(`${fn}: layer '${layer.name}' is stateful, and the batches of ${what} (${batch} samples) would continue the states of ${sizeOf}'s batches (${size} samples); give them the same size`);
      }
      size = batch;
      sizeOf = what;
    }
  }

  /** Clears the carried state of stateful recurrent layers. */
  resetStates(): void {
    this.assertLive('resetStates');
    for (const l of this.layers) if (l instanceof FusedRecurrent) l.resetStates();
  }

  /** Host copies of every parameter, in order. */
  getWeights(): Float32Array[] {
    this.assertLive('getWeights');
    return this.params.map((p) => p.value.dataSync() as Float32Array);
  }

  setWeights(weights: ArrayLike<number>[]): void {
    this.assertLive('setWeights');
    writeWeights(this.params, weights);
  }

  /** Saves the model into a directory, crash-safely (docs/io.md); same as io.saveModel(model, dir). */
  save(dir: string, options?: ModelIo.SaveOptions): void {
    this.assertLive('save');
    modelIo().saveModel(this as never, dir, options);
  }

  /** Loads PyTorch or Keras weights into the layers (docs/io.md); same as io.loadWeights(model, file). */
  loadWeights(file: string, options?: ModelIo.LoadWeightsOptions): void {
    this.assertLive('loadWeights');
    modelIo().loadWeights(this as never, file, options);
  }

  /**
   * fitDataset over the shared loop; the model supplies how arrays validate, how a source
   * evaluates, how an element becomes a step, its log names and (several outputs) its logs.
   */
  protected runFitDataset(dataset: BatchSource, args: FitDatasetArgs, model: {
    validateArrays(x: unknown, y: unknown, sampleWeight: unknown): () => Logs;
    evaluateSource(source: BatchSource): Promise<Logs>;
    step(element: unknown, index: number, rng: Rng): StepBatch;
    logNames: string[];
    toLogs?: (means: ArrayLike<number>) => number[];
  }): Promise<History> {
    const { loop, batchesPerEpoch, validation } = fitDatasetOptions(dataset, args);
    let validate: (() => Logs | Promise<Logs>) | null = null;
    if (validation && 'arrays' in validation) validate = model.validateArrays(...validation.arrays);
    else if (validation) validate = () => model.evaluateSource(validation.source);
    const rng = this.startTrainingRng();
    return trainLoop({
      model: this, callbackModel: this, ...loop,
      params: { epochs: loop.epochs, steps: batchesPerEpoch ?? 0, samples: 0, batchSize: 0, verbose: loop.verbose, metrics: model.logNames },
      epochBatches: sourceEpochs('fitDataset', dataset, batchesPerEpoch, (element, i) => model.step(element, i, rng)),
      toLogs: model.toLogs,
      validate,
    });
  }

  /** The layer calls a step runs (a sequential model: its chain). */
  protected abstract trainingGraph(): Graph;

  /** The log names: loss (the weighted total), then per output (several outputs) its loss and metrics. */
  protected logNames(): string[] {
    const o = this.outputLosses ?? [];
    if (o.length <= 1) return ['loss', ...(o[0]?.metrics ?? []).map((m) => m.name)];
    return ['loss', ...o.flatMap((out, i) => [`${this.outputNames[i]}_loss`, ...out.metrics.map((m) => `${this.outputNames[i]}_${m.name}`)])];
  }

  /** Logs from (the means of) a step's values (per output: loss, metrics): the total loss first when there are several outputs. */
  protected toLogs(values: ArrayLike<number>): number[] {
    const losses = this.outputLosses!;
    if (losses.length === 1) return outputLogs(losses[0]!, values, 0);
    let total = 0, offset = 0;
    const logs = losses.flatMap((o, i) => {
      total += this.lossWeights[i]! * values[offset]!;
      const out = outputLogs(o, values, offset);
      offset += outputSlots(o);
      return out;
    });
    return [total, ...logs];
  }

  /** The slots of a step's values: every output's loss and metrics. */
  protected valueSlots(): number {
    return this.outputLosses!.reduce((s, o) => s + outputSlots(o), 0);
  }

  /** Per-output loss and metrics into one tensor (see toLogs), and the loss gradients scaled by lossWeights. */
  private lossesAndMetrics(outputs: Tensor[], lengths: Array<Int32Array | null>, ys: Tensor[], weights: Float32Array | null, withGrad: boolean): { values: Tensor; grads: Array<Tensor | null> } {
    const values = ops.empty([this.valueSlots()], outputs[0]!.device);
    let offset = 0;
    const grads = this.outputLosses!.map((o, i) => {
      const g = lossAndMetricsInto(o, outputs[i]!, ys[i]!, lengths[i]!, weights, values, offset, withGrad);
      offset += outputSlots(o);
      if (g && this.lossWeights[i] !== 1) ops.scale_(g, this.lossWeights[i]!);
      return g;
    });
    return { values, grads };
  }

  private fusedLayers() {
    return (this.outputLosses ?? []).map((o) => o.fused);
  }

  /**
   * One training step on batch tensors; returns the raw per-output [loss, ...metrics] tensor (the
   * step's only survivor; the caller reads and disposes it). applyUpdate false leaves the
   * gradients for `collect` to read before they are cleared.
   */
  protected stepValues(xs: Tensor[], ys: Tensor[], weights: Float32Array | null, rng: Rng, applyUpdate = true, collect?: (params: Param[]) => void): Tensor {
    const optimizer = this.optimizer;
    if (!optimizer || !this.outputLosses) fail('model: call compile({optimizer, loss}) before training or evaluating');
    const graph = this.trainingGraph();
    const saved = new Map<GraphNode, unknown>();
    startScope('trainStep');
    let result: Tensor | undefined;
    try {
      result = withFused(this.fusedLayers(), () => {
        const { outputs, lengths } = graph.forward(xs, true, rng, saved, this.hostOf);
        const { values, grads } = this.lossesAndMetrics(outputs, lengths, ys, weights, true);
        graph.backward(grads, saved);
        if (applyUpdate) optimizer.apply(this.params);
        else collect?.(this.params);
        return values;
      });
      return result;
    } finally {
      clearSaved(saved);
      for (const l of this.layers) l.clearSaved(); // a layer that threw mid-forward keeps its own
      for (const p of this.params) p.grad = null;
      endScope(result);
    }
  }

  /** The raw per-output [loss, ...metrics] of one batch in inference mode, as a new device tensor. */
  protected evaluateValues(xs: Tensor[], ys: Tensor[], weights: Float32Array | null): Tensor {
    return tidy(() =>
      withFused(this.fusedLayers(), () => {
        const { outputs, lengths } = this.trainingGraph().forward(xs, false, globalRng, null, this.hostOf);
        return this.lossesAndMetrics(outputs, lengths, ys, weights, false).values;
      }),
    );
  }

  /**
   * evaluate's logs over n samples in batches: each batch's [loss, ...metrics] (`batchValues`, from
   * tensors made in its own scope) goes into one device tensor, read once at the end (no
   * device-to-host transfer per batch), then averaged weighted by batch size.
   */
  protected evaluateBatches(n: number, batchSize: number, batchValues: (start: number, end: number) => Tensor): Logs {
    const k = this.valueSlots();
    const batches = Math.ceil(n / batchSize);
    const all = tidy(() => {
      const acc = ops.empty([batches, k], this.device);
      try {
        for (let b = 0; b < batches; b++) {
          const start = b * batchSize;
          tidy(() => ops.writeFirst_(acc, batchValues(start, Math.min(n, start + batchSize)), b));
        }
        return acc.dataSync();
      } finally {
        acc.dispose();
      }
    });
    const rows = Array.from({ length: batches }, (_, b) => ({ size: Math.min(n, (b + 1) * batchSize) - b * batchSize, values: all.subarray(b * k, (b + 1) * k) }));
    return weightedMeans(this.logNames(), rows, (v) => this.toLogs(v));
  }

  /** Keras' summary table (header, rows, parameter totals) with the given column widths; printed and returned. */
  protected summaryTable(print: (line: string) => void, heads: string[], rows: string[][], widths: number[]): string {
    const line = (c: string) => c.repeat(widths.reduce((a, b) => a + b, 0));
    const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('');
    const total = this.countParams();
    const trainable = this.params.filter((p) => p.trainable).reduce((s, p) => s + p.value.size, 0);
    const out = [
      `Model: "${this.name}"`,
      line('_'),
      fmt(heads),
      line('='),
      ...rows.flatMap((r, i) => (i ? [line('_'), fmt(r)] : [fmt(r)])),
      line('='),
      `Total params: ${total.toLocaleString('en-US')}`,
      `Trainable params: ${trainable.toLocaleString('en-US')}`,
      `Non-trainable params: ${(total - trainable).toLocaleString('en-US')}`,
      line('_'),
    ].join('\n');
    print(out);
    return out;
  }

  /** Writes the model as an ONNX file (docs/io.md); same as io.exportOnnx(model, file). */
  exportOnnx(file: string, options?: { opset?: number; ignoreMasking?: boolean }): void {
    this.assertLive('exportOnnx');
    modelIo().exportOnnx(this as never, file, options);
  }

  /** Saves a training checkpoint (modelCheckpoint calls it). */
  writeCheckpoint(dir: string, info: { epoch: number; logs?: Record<string, number>; [k: string]: unknown }): void {
    this.assertLive('writeCheckpoint');
    modelIo().saveCheckpoint(this as never, dir, info);
  }

  /** Frees parameters and optimizer state; the model cannot be used afterwards (a second call does nothing). */
  dispose(): void {
    if (this.disposed) return;
    for (const l of this.layers) l.dispose();
    this.optimizer?.dispose();
    this.disposed = true;
  }
}

/** One input of predict: its shape and its batches [start, end) as tensors on the model's device. */
export interface PredictInput {
  shape: number[];
  batch: (start: number, end: number) => Tensor;
}

/** predict's outputs, none of them the caller's input tensor or a view of it (a copy instead). */
export function ownOutputs(outputs: Tensor[], inputs: Tensor[]): Tensor[] {
  return outputs.map((y) => (inputs.some((x) => y.sharesMemoryWith(x)) ? y.clone() : y));
}
