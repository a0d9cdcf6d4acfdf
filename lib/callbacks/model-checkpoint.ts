// modelCheckpoint: saves training checkpoints (model, optimizer state, RNG state, epoch) every N
// epochs and/or when a monitored metric improves, crash-safely (lib/io/atomic.ts). Resume with
// model.fit(x, y, {resumeFrom: dir, ...}).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe } from '../backend';
import { saveCheckpoint } from '../io/model-io';
import { checkOptions } from '../options';
import type { Sequential } from '../models/sequential';
import { Callback, type Logs } from './base';

export interface ModelCheckpointArgs {
  /** Directory to save into; `{epoch}` (1-based, as Keras) is replaced, e.g. 'ckpt/epoch-{epoch}'. */
  filepath: string;
  /** Save every this many epochs (default 1). Ignored when saveBestOnly is set. */
  saveFreq?: number;
  /** Save only when `monitor` improves (default false). */
  saveBestOnly?: boolean;
  /** The metric for saveBestOnly (default 'val_loss'). */
  monitor?: string;
  /** 'min', 'max', or 'auto' (default: max for accuracy-like names, else min). */
  mode?: 'auto' | 'min' | 'max';
  /** Log each save (default 0). */
  verbose?: 0 | 1;
}

export class ModelCheckpoint extends Callback {
  readonly filepath: string;
  readonly saveFreq: number;
  readonly saveBestOnly: boolean;
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  readonly verbose: 0 | 1;
  /** The best monitored value so far. */
  best: number;
  /** Directories written, in order. */
  readonly saved: string[] = [];

  constructor(args: ModelCheckpointArgs) {
    super();
    checkOptions('modelCheckpoint', args, ['filepath', 'saveFreq', 'saveBestOnly', 'monitor', 'mode', 'verbose'], {
      optional: false,
      refused: {
        saveWeightsOnly: 'a checkpoint always holds the model, its optimizer state and the training stream, which resuming needs',
        initialValueThreshold: 'not implemented',
      },
    });
    if (typeof args.filepath !== 'string' || !args.filepath) {
      throw new TypeError(`modelCheckpoint: options must include 'filepath' (a directory), got ${describe(args.filepath)}`);
    }
    this.filepath = args.filepath;
    this.saveFreq = args.saveFreq ?? 1;
    if (!Number.isInteger(this.saveFreq) || this.saveFreq < 1) throw new TypeError(`modelCheckpoint: 'saveFreq' must be a positive integer, got ${String(args.saveFreq)}`);
    this.saveBestOnly = args.saveBestOnly ?? false;
    if (typeof this.saveBestOnly !== 'boolean') throw new TypeError(`modelCheckpoint: 'saveBestOnly' must be true or false, got ${describe(args.saveBestOnly)}`);
    this.monitor = args.monitor ?? 'val_loss';
    if (typeof this.monitor !== 'string' || !this.monitor) throw new TypeError(`modelCheckpoint: 'monitor' must be a metric name such as 'val_loss', got ${describe(args.monitor)}`);
    const mode = args.mode ?? 'auto';
    if (mode !== 'auto' && mode !== 'min' && mode !== 'max') throw new TypeError(`modelCheckpoint: 'mode' must be 'auto', 'min' or 'max', got ${String(mode)}`);
    this.mode = mode === 'auto' ? (/acc|auc|precision|recall/.test(this.monitor) ? 'max' : 'min') : mode;
    this.best = this.mode === 'min' ? Infinity : -Infinity;
    this.verbose = args.verbose ?? 0;
    if (this.verbose !== 0 && this.verbose !== 1) throw new TypeError(`modelCheckpoint: 'verbose' must be 0 or 1, got ${describe(args.verbose)}`);
  }

  /** Resuming into the same directory with saveBestOnly: continue from the best value recorded there. */
  override onTrainBegin(): void {
    if (!this.saveBestOnly || this.filepath.includes('{epoch}')) return;
    try {
      const m = JSON.parse(fs.readFileSync(path.join(this.filepath, 'model.json'), 'utf8'));
      const t = m?.training;
      if (t && t.monitor === this.monitor && typeof t.best === 'number') {
        if (this.mode === 'min' ? t.best < this.best : t.best > this.best) this.best = t.best;
      }
    } catch {
      // No checkpoint there yet.
    }
  }

  override onEpochEnd(epoch: number, logs: Logs = {}): void {
    let save: boolean;
    if (this.saveBestOnly) {
      const v = logs[this.monitor];
      if (v === undefined) {
        throw new Error(`modelCheckpoint: monitored metric '${this.monitor}' is not in the logs (available: ${Object.keys(logs).join(', ') || 'none'}); pass validationData for val_ metrics`);
      }
      save = this.mode === 'min' ? v < this.best : v > this.best;
      if (save) this.best = v;
    } else {
      save = (epoch + 1) % this.saveFreq === 0;
    }
    if (!save) return;
    const dir = this.filepath.replace(/\{epoch\}/g, String(epoch + 1));
    // saveCheckpoint refuses functional models with a clear error (checkpoints cover sequential ones).
    saveCheckpoint(this.model as Sequential, dir, { epoch, logs: { ...logs }, monitor: this.monitor, best: Number.isFinite(this.best) ? this.best : null });
    this.saved.push(dir);
    if (this.verbose) process.stdout.write(`\nEpoch ${epoch + 1}: saved checkpoint to ${dir}\n`);
  }
}

export const modelCheckpoint = (args: ModelCheckpointArgs): ModelCheckpoint => new ModelCheckpoint(args);
