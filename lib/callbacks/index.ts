// Keras-style callbacks: progress output, early stopping, LR reduction on plateaus, NaN guard,
// learning-rate schedules per epoch, CSV logging and custom hooks.
import * as fs from 'node:fs';
import { describe } from '../backend';
import { checkOptions } from '../options';

export { Callback, CustomCallback, type CallbackHooks, type Logs, type TrainParams } from './base';
import { Callback, type Logs } from './base';

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(4) : v.toFixed(4);
}

function fmtLogs(logs: Logs, skip: string[] = []): string {
  return Object.entries(logs)
    .filter(([k]) => !skip.includes(k))
    .map(([k, v]) => `${k}: ${fmt(v)}`)
    .join(' - ');
}

function fmtTime(s: number): string {
  if (s >= 3600) return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
  if (s >= 60) return `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
  return `${Math.round(s)}s`;
}

/** Keras verbose=1: a bar per epoch with ETA and running metrics on a TTY; plain lines otherwise (verbose=2 style). */
export class ProgressBar extends Callback {
  private epochStart = 0;
  private lastDraw = 0;
  constructor(private readonly stream: NodeJS.WriteStream = process.stdout, private readonly tty = Boolean(stream.isTTY)) {
    super();
  }
  override onEpochBegin(epoch: number): void {
    this.epochStart = performance.now();
    this.lastDraw = 0;
    this.stream.write(`Epoch ${epoch + 1}/${this.params.epochs}\n`);
  }
  override onBatchEnd(batch: number, logs: Logs = {}): void {
    if (!this.tty) return;
    const now = performance.now();
    if (now - this.lastDraw < 50 && batch + 1 < this.params.steps) return;
    this.lastDraw = now;
    const done = batch + 1;
    const total = this.params.steps;
    const width = 30;
    const filled = Math.floor((done / total) * width);
    const bar = filled >= width ? '='.repeat(width) : `${'='.repeat(filled)}>${'.'.repeat(width - filled - 1)}`;
    const elapsed = (now - this.epochStart) / 1000;
    const eta = (elapsed / done) * (total - done);
    this.stream.write(`\r${String(done).padStart(String(total).length)}/${total} [${bar}] - ETA: ${fmtTime(eta)} - ${fmtLogs(logs, ['batch', 'size'])}\x1b[K`);
  }
  override onEpochEnd(_epoch: number, logs: Logs = {}): void {
    const elapsed = (performance.now() - this.epochStart) / 1000;
    const total = this.params.steps;
    const per = total ? (elapsed * 1000) / total : 0;
    const line = `${total}/${total} [${'='.repeat(30)}] - ${fmtTime(elapsed)} ${per.toFixed(0)}ms/step - ${fmtLogs(logs)}`;
    this.stream.write(this.tty ? `\r${line}\x1b[K\n` : `${line}\n`);
  }
}

export interface EarlyStoppingArgs {
  monitor?: string;
  minDelta?: number;
  patience?: number;
  mode?: 'min' | 'max' | 'auto';
  baseline?: number;
  restoreBestWeights?: boolean;
  verbose?: number;
}

function better(mode: 'min' | 'max' | 'auto', monitor: string): (a: number, b: number, delta: number) => boolean {
  const max = mode === 'max' || (mode === 'auto' && /acc|auc|precision|recall/.test(monitor)); // higher is better (Keras 3 asks the metric)
  return max ? (a, b, d) => a - d > b : (a, b, d) => a + d < b;
}

/** Checks the options shared by the monitoring callbacks; returns the monitor and the comparison. */
function monitorOptions(fn: string, args: { monitor?: unknown; mode?: unknown; verbose?: unknown }, numbers: Record<string, unknown>): { monitor: string; isBetter: (a: number, b: number, d: number) => boolean } {
  const monitor = args.monitor ?? 'val_loss';
  if (typeof monitor !== 'string' || !monitor) throw new TypeError(`${fn}: 'monitor' must be a metric name such as 'val_loss', got ${describe(args.monitor)}`);
  const mode = args.mode ?? 'auto';
  if (mode !== 'auto' && mode !== 'min' && mode !== 'max') throw new TypeError(`${fn}: 'mode' must be 'auto', 'min' or 'max', got ${describe(args.mode)}`);
  if (args.verbose !== undefined && args.verbose !== 0 && args.verbose !== 1) throw new TypeError(`${fn}: 'verbose' must be 0 or 1, got ${describe(args.verbose)}`);
  for (const [k, v] of Object.entries(numbers)) {
    if (v !== undefined && (typeof v !== 'number' || !(v >= 0))) throw new TypeError(`${fn}: '${k}' must be a non-negative number, got ${describe(v)}`);
  }
  return { monitor, isBetter: better(mode, monitor) };
}

/**
 * Warns (once per callback; Keras' Python warning shows once too) that the monitored metric is
 * not in the epoch's logs, e.g. val_loss without validation data; returns the value otherwise.
 */
class MonitorReader {
  private warned = false;
  constructor(private readonly monitor: string, private readonly what: string) {}
  read(logs: Logs): number | undefined {
    const v = logs[this.monitor];
    if (v === undefined && !this.warned) {
      this.warned = true;
      console.warn(`${this.what} conditioned on metric \`${this.monitor}\` which is not available. Available metrics are: ${Object.keys(logs).join(',')}`);
    }
    return v;
  }
}

export class EarlyStopping extends Callback {
  readonly monitor: string;
  private wait = 0;
  private best = NaN;
  private bestWeights: Float32Array[] | null = null;
  stoppedEpoch = -1;
  bestEpoch = -1;
  private readonly isBetter: (a: number, b: number, d: number) => boolean;
  private readonly reader: MonitorReader;
  constructor(private readonly args: EarlyStoppingArgs = {}) {
    super();
    checkOptions('earlyStopping', args, ['monitor', 'minDelta', 'patience', 'mode', 'baseline', 'restoreBestWeights', 'verbose'], {
      refused: { startFromEpoch: 'not implemented (patience counts from the first epoch)' },
    });
    ({ monitor: this.monitor, isBetter: this.isBetter } = monitorOptions('earlyStopping', args, { minDelta: args.minDelta, patience: args.patience }));
    if (args.baseline !== undefined && !Number.isFinite(args.baseline)) throw new TypeError(`earlyStopping: 'baseline' must be a number, got ${describe(args.baseline)}`);
    if (args.restoreBestWeights !== undefined && typeof args.restoreBestWeights !== 'boolean') throw new TypeError(`earlyStopping: 'restoreBestWeights' must be true or false, got ${describe(args.restoreBestWeights)}`);
    this.reader = new MonitorReader(this.monitor, 'Early stopping');
  }
  override onTrainBegin(): void {
    this.wait = 0;
    this.best = this.args.baseline ?? NaN;
    this.bestWeights = null;
  }
  override onEpochEnd(epoch: number, logs: Logs = {}): void {
    const v = this.reader.read(logs);
    if (v === undefined) return;
    if (Number.isNaN(this.best) || this.isBetter(v, this.best, Math.abs(this.args.minDelta ?? 0))) {
      this.best = v;
      this.bestEpoch = epoch;
      this.wait = 0;
      if (this.args.restoreBestWeights) this.bestWeights = this.model.getWeights().map((w) => w.slice());
      return;
    }
    this.wait += 1;
    if (this.wait >= (this.args.patience ?? 0)) {
      this.stoppedEpoch = epoch;
      this.model.stopTraining = true;
      if (this.args.restoreBestWeights && this.bestWeights) this.model.setWeights(this.bestWeights);
      if (this.args.verbose) console.log(`Epoch ${epoch + 1}: early stopping${this.bestWeights ? ` (restored the weights of epoch ${this.bestEpoch + 1})` : ''}`);
    }
  }
}

export interface ReduceLROnPlateauArgs {
  monitor?: string;
  factor?: number;
  patience?: number;
  minDelta?: number;
  cooldown?: number;
  minLr?: number;
  mode?: 'min' | 'max' | 'auto';
  verbose?: number;
}

export class ReduceLROnPlateau extends Callback {
  readonly monitor: string;
  private wait = 0;
  private cooldown = 0;
  private best = NaN;
  private readonly isBetter: (a: number, b: number, d: number) => boolean;
  private readonly reader: MonitorReader;
  constructor(private readonly args: ReduceLROnPlateauArgs = {}) {
    super();
    checkOptions('reduceLROnPlateau', args, ['monitor', 'factor', 'patience', 'minDelta', 'cooldown', 'minLr', 'mode', 'verbose']);
    const { factor, patience, minDelta, cooldown, minLr } = args;
    ({ monitor: this.monitor, isBetter: this.isBetter } = monitorOptions('reduceLROnPlateau', args, { patience, minDelta, cooldown, minLr }));
    if (factor !== undefined && !(typeof factor === 'number' && factor > 0 && factor < 1)) throw new TypeError(`reduceLROnPlateau: 'factor' must be a number in (0, 1), got ${describe(factor)}`);
    this.reader = new MonitorReader(this.monitor, 'Learning rate reduction is');
  }
  override onEpochEnd(epoch: number, logs: Logs = {}): void {
    const v = this.reader.read(logs);
    const opt = this.model.optimizer;
    if (opt) logs.learning_rate = opt.learningRate;
    if (v === undefined || !opt) return;
    if (this.cooldown > 0) this.cooldown -= 1;
    if (Number.isNaN(this.best) || this.isBetter(v, this.best, this.args.minDelta ?? 1e-4)) {
      this.best = v;
      this.wait = 0;
    } else if (this.cooldown <= 0) {
      this.wait += 1;
      if (this.wait >= (this.args.patience ?? 10)) {
        const old = opt.learningRate;
        const next = Math.max(old * (this.args.factor ?? 0.1), this.args.minLr ?? 0);
        if (next < old) {
          opt.learningRate = next;
          if (this.args.verbose) console.log(`Epoch ${epoch + 1}: reducing the learning rate to ${next}`);
        }
        this.cooldown = this.args.cooldown ?? 0;
        this.wait = 0;
      }
    }
  }
}

/**
 * Keras' LearningRateScheduler: at each epoch's start sets the optimizer's learning rate to
 * schedule(epoch, currentRate) (a constant from then on: it replaces a step schedule) and logs
 * the rate as `learning_rate` at the epoch's end.
 */
export class LearningRateScheduler extends Callback {
  constructor(readonly schedule: (epoch: number, lr: number) => number, private readonly options: { verbose?: 0 | 1 } = {}) {
    super();
    if (typeof schedule !== 'function') throw new TypeError(`learningRateScheduler: argument 'schedule' must be a function (epoch, lr) => number, got ${describe(schedule)}`);
    checkOptions('learningRateScheduler', options, ['verbose']);
    if (options.verbose !== undefined && options.verbose !== 0 && options.verbose !== 1) throw new TypeError(`learningRateScheduler: 'verbose' must be 0 or 1, got ${describe(options.verbose)}`);
  }
  override onEpochBegin(epoch: number): void {
    const opt = this.model.optimizer;
    if (!opt) throw new Error('learningRateScheduler: the model has no optimizer (call compile first)');
    const lr = this.schedule(epoch, opt.learningRate);
    if (typeof lr !== 'number' || !(lr > 0) || !Number.isFinite(lr)) throw new TypeError(`learningRateScheduler: the schedule must return a positive finite number, got ${describe(lr)} at epoch ${epoch}`);
    opt.learningRate = lr;
    if (this.options.verbose) console.log(`Epoch ${epoch + 1}: LearningRateScheduler setting learning rate to ${lr}.`);
  }
  override onEpochEnd(_epoch: number, logs: Logs = {}): void {
    const opt = this.model.optimizer;
    if (opt) logs.learning_rate = opt.learningRate;
  }
}

export class TerminateOnNaN extends Callback {
  override onBatchEnd(batch: number, logs: Logs = {}): void {
    const loss = logs.loss;
    if (loss !== undefined && !Number.isFinite(loss)) {
      console.log(`Batch ${batch}: invalid loss, terminating training`);
      this.model.stopTraining = true;
    }
  }
}

/**
 * Appends one CSV row per epoch (epoch, then the logs' keys in order). With append, an existing
 * file is continued (its header kept) and a missing one is created, as Keras does.
 */
export class CSVLogger extends Callback {
  private keys: string[] | null = null;
  constructor(readonly filename: string, readonly options: { separator?: string; append?: boolean } = {}) {
    super();
    if (typeof filename !== 'string' || !filename) throw new TypeError(`csvLogger: argument 'filename' must be a file path, got ${describe(filename)}`);
    checkOptions('csvLogger', options, ['separator', 'append']);
    if (options.separator !== undefined && (typeof options.separator !== 'string' || !options.separator)) throw new TypeError(`csvLogger: 'separator' must be a non-empty string, got ${describe(options.separator)}`);
    if (options.append !== undefined && typeof options.append !== 'boolean') throw new TypeError(`csvLogger: 'append' must be true or false, got ${describe(options.append)}`);
  }
  override onTrainBegin(): void {
    this.keys = null;
    if (!this.options.append) fs.writeFileSync(this.filename, '');
  }
  override onEpochEnd(epoch: number, logs: Logs = {}): void {
    const sep = this.options.separator ?? ',';
    if (!this.keys) {
      this.keys = Object.keys(logs).sort();
      const empty = !fs.existsSync(this.filename) || fs.statSync(this.filename).size === 0;
      if (!this.options.append || empty) fs.appendFileSync(this.filename, ['epoch', ...this.keys].join(sep) + '\n');
    }
    fs.appendFileSync(this.filename, [epoch, ...this.keys.map((k) => logs[k] ?? '')].join(sep) + '\n');
  }
}

export const earlyStopping = (args?: EarlyStoppingArgs): EarlyStopping => new EarlyStopping(args);
export const reduceLROnPlateau = (args?: ReduceLROnPlateauArgs): ReduceLROnPlateau => new ReduceLROnPlateau(args);
export const terminateOnNaN = (...args: never[]): TerminateOnNaN => {
  if (args.length) throw new TypeError(`terminateOnNaN: takes no arguments, got ${describe(args[0])}`);
  return new TerminateOnNaN();
};
export const learningRateScheduler = (schedule: (epoch: number, lr: number) => number, options?: { verbose?: 0 | 1 }): LearningRateScheduler => new LearningRateScheduler(schedule, options);
export const csvLogger = (filename: string, options?: { separator?: string; append?: boolean }): CSVLogger => new CSVLogger(filename, options);
export const progressBar = (stream?: NodeJS.WriteStream): ProgressBar => {
  if (stream !== undefined && typeof (stream as { write?: unknown })?.write !== 'function') throw new TypeError(`progressBar: argument 'stream' must be a writable stream, got ${describe(stream)}`);
  return new ProgressBar(stream);
};
export { modelCheckpoint, ModelCheckpoint, type ModelCheckpointArgs } from './model-checkpoint';
