// The on-disk format of a saved model (a directory), independent of the model classes:
//
//   model.json                  the manifest and commit point (written last, atomically):
//     { "format": "cudnn-gru-model", "formatVersion": 1, "producer": "cudnn-gru <version>",
//       "topology": {...}, "trainingConfig": {...} | null,
//       "weights": [{ "name", "shape", "dtype" }...],            in the model's order
//       "optimizer": { "config": {...}, "state": [{ "name", "shape", "dtype" }...] } | null,
//       "training": { "epoch", "rng", ... } | null,               checkpoints: where to resume
//       "files": { "weights.safetensors": { "file", "bytes", "sha256" }, "optimizer.safetensors": ... } }
//   weights-v<id>.safetensors   the weights, one tensor per weight name (F32/I32)
//   optimizer-v<id>.safetensors the optimizer's slots and step counters (optional)
//
// See atomic.ts for why the data files carry a version id, how a crash never leaves a half-saved
// model and how concurrent savers take turns. Loading checks the format and version, each file's
// size and SHA-256, and that the safetensors contents are exactly the tensors the manifest lists.
// Saving refuses to replace a directory whose model.json this version cannot have written (a newer
// format version, or a foreign model.json) unless told `overwrite`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkOptions } from '../options';
import { checkObject, checkPath } from './args';
import { commitDirectorySync, readVerifiedSync, type FileRef } from './atomic';
import { decodeSafetensors, encodeSafetensors, type SafeDType } from './safetensors';

export const MODEL_FORMAT = 'cudnn-gru-model';
export const MODEL_FORMAT_VERSION = 1;

export type HostTensorData = Float32Array | Int32Array;

export interface HostTensor {
  shape: number[];
  data: HostTensorData;
}

export interface ModelArtifacts {
  /** The model's architecture (layer classes and configs, input shape): JSON-serialisable. */
  topology: unknown;
  /** Loss, metrics, optimizer config as given to compile(): JSON-serialisable, or null. */
  trainingConfig?: unknown;
  /** Weights by unique name, in the model's order. */
  weights: Map<string, HostTensor>;
  /** Optimizer config and state tensors (slots, iteration counters), when saved. */
  optimizer?: { config: unknown; state: Map<string, HostTensor> } | null;
  /** Checkpoint progress (epoch, RNG state, ...): JSON-serialisable, or null. */
  training?: unknown;
}

export class ModelFormatError extends Error {
  override name = 'ModelFormatError';
}

function fail(dir: string, message: string): never {
  throw new ModelFormatError(`loadModel: ${dir}: ${message}`);
}

const MANIFEST = 'model.json';
const WEIGHTS = 'weights.safetensors';
const OPTIMIZER = 'optimizer.safetensors';

function dtypeOf(t: HostTensor): SafeDType {
  return t.data instanceof Int32Array ? 'I32' : 'F32';
}

function listOf(map: Map<string, HostTensor>): { name: string; shape: number[]; dtype: string }[] {
  return [...map].map(([name, t]) => ({ name, shape: [...t.shape], dtype: t.data instanceof Int32Array ? 'int32' : 'float32' }));
}

function toSafe(map: Map<string, HostTensor>): Map<string, { dtype: SafeDType; shape: number[]; data: HostTensorData }> {
  return new Map([...map].map(([k, t]) => [k, { dtype: dtypeOf(t), shape: t.shape, data: t.data }]));
}

export interface SaveArtifactsOptions {
  /** Producer string recorded in model.json. */
  producer?: string;
  /** Replace a model.json this version would not write (newer format version, foreign file). */
  overwrite?: boolean;
  /** How long to wait for another process saving into `dir` (ms). */
  lockTimeoutMs?: number;
}
const SAVE_ARTIFACTS_OPTIONS = ['producer', 'overwrite', 'lockTimeoutMs'] as const;

/** Throws unless `dir`'s current model.json (if any) is one this version may replace. */
function refuseUnknownManifest(dir: string): void {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, MANIFEST), 'utf8');
  } catch {
    return; // nothing saved there yet
  }
  let m: { format?: unknown; formatVersion?: unknown; producer?: unknown } | null = null;
  try {
    m = JSON.parse(text);
  } catch {
    // not JSON: refused below like any foreign file
  }
  const hint = 'pass {overwrite: true} to replace it';
  if (typeof m !== 'object' || m === null || m.format !== MODEL_FORMAT) {
    throw new ModelFormatError(`save: ${dir} already holds a ${MANIFEST} that is not a ${MODEL_FORMAT} manifest; saving would replace it: ${hint}`);
  }
  if (typeof m.formatVersion === 'number' && m.formatVersion > MODEL_FORMAT_VERSION) {
    throw new ModelFormatError(
      `save: ${dir} holds a model in format version ${m.formatVersion} (written by ${String(m.producer ?? 'a newer cudnn-gru')}), newer than this library's ${MODEL_FORMAT_VERSION}; saving would replace it with the older format: ${hint}`,
    );
  }
}

/** Saves artifacts into `dir` crash-safely (see the file comment). */
export function saveArtifacts(dir: string, a: ModelArtifacts, options: SaveArtifactsOptions = {}): void {
  checkPath('save', 'dir', dir);
  checkObject('save', 'artifacts', a);
  if (!(a.weights instanceof Map)) throw new TypeError(`save: artifacts.weights must be a Map of name → {shape, data}`);
  checkOptions('save', options, SAVE_ARTIFACTS_OPTIONS);
  const { producer = 'cudnn-gru', overwrite = false, lockTimeoutMs } = options;
  const files: Record<string, Uint8Array[]> = { [WEIGHTS]: encodeSafetensors(toSafe(a.weights), { format: MODEL_FORMAT }) };
  if (a.optimizer) files[OPTIMIZER] = encodeSafetensors(toSafe(a.optimizer.state), { format: MODEL_FORMAT });
  commitDirectorySync(dir, files, (refs) => JSON.stringify({
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    producer,
    topology: a.topology,
    trainingConfig: a.trainingConfig ?? null,
    weights: listOf(a.weights),
    optimizer: a.optimizer ? { config: a.optimizer.config, state: listOf(a.optimizer.state) } : null,
    training: a.training ?? null,
    files: refs,
  }, null, 1), { manifest: MANIFEST, ownedFiles: [WEIGHTS, OPTIMIZER], lockTimeoutMs, checkExisting: overwrite ? undefined : refuseUnknownManifest });
}

function readTensors(dir: string, ref: FileRef, logical: string, listed: unknown): Map<string, HostTensor> {
  if (!Array.isArray(listed)) fail(dir, `model.json: the ${logical} list is missing or not an array`);
  const buf = readVerifiedSync(dir, ref, logical);
  const st = decodeSafetensors(buf, path.join(dir, ref.file));
  const out = new Map<string, HostTensor>();
  for (const entry of listed as { name: string; shape: number[]; dtype: string }[]) {
    const t = st.tensors.get(entry?.name);
    if (!t) fail(dir, `${ref.file} has no tensor '${entry?.name}' listed in model.json`);
    if (t.shape.length !== entry.shape.length || t.shape.some((d, i) => d !== entry.shape[i])) {
      fail(dir, `tensor '${entry.name}' has shape [${t.shape}] in ${ref.file} but [${entry.shape}] in model.json`);
    }
    if (t.dtype !== 'F32' && t.dtype !== 'I32') fail(dir, `tensor '${entry.name}' has dtype ${t.dtype}; saved models hold F32 and I32 tensors`);
    out.set(entry.name, { shape: t.shape, data: t.data as HostTensorData });
  }
  for (const name of st.tensors.keys()) {
    if (!out.has(name)) fail(dir, `${ref.file} holds tensor '${name}' which model.json does not list`);
  }
  return out;
}

type LoadedArtifacts = ModelArtifacts & { producer: string; formatVersion: number };

function readManifest(dir: string): string {
  try {
    return fs.readFileSync(path.join(dir, MANIFEST), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      fail(dir, fs.existsSync(dir) ? 'no model.json: not a saved model (or its first save was interrupted before completing)' : 'no such directory');
    }
    fail(dir, `cannot read model.json: ${(err as Error).message}`);
  }
}

/**
 * Loads and validates the artifacts in `dir`. A save committing meanwhile can delete the data
 * files the manifest just read names: when reading fails and model.json has changed, the new
 * version is read instead (once; a second change is reported as a concurrent save).
 */
export function loadArtifacts(dir: string): LoadedArtifacts {
  checkPath('loadModel', 'dir', dir);
  const text = readManifest(dir);
  try {
    return artifactsOf(dir, text);
  } catch (err) {
    const again = readManifest(dir);
    if (again === text) throw err;
    try {
      return artifactsOf(dir, again);
    } catch (err2) {
      if (readManifest(dir) === again) throw err2;
      throw new ModelFormatError(`loadModel: ${dir}: the model was replaced twice while being read (another process is saving into it); retry, or wait for that save`, { cause: err2 });
    }
  }
}

function artifactsOf(dir: string, text: string): LoadedArtifacts {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(text);
  } catch (err) {
    fail(dir, `model.json is not valid JSON (${(err as Error).message}); the file is damaged`);
  }
  if (typeof m !== 'object' || m === null || m.format !== MODEL_FORMAT) fail(dir, `model.json is not a ${MODEL_FORMAT} manifest (format: ${JSON.stringify((m as { format?: unknown })?.format)})`);
  const version = m.formatVersion;
  if (typeof version !== 'number' || !Number.isInteger(version)) fail(dir, `model.json has no valid formatVersion`);
  if (version > MODEL_FORMAT_VERSION) fail(dir, `format version ${version} is newer than this library reads (${MODEL_FORMAT_VERSION}); upgrade cudnn-gru`);
  if (version < 1) fail(dir, `format version ${version} is not supported`);
  const files = (m.files ?? {}) as Record<string, FileRef>;
  if (!files[WEIGHTS]) fail(dir, `model.json names no ${WEIGHTS}`);
  const weights = readTensors(dir, files[WEIGHTS], WEIGHTS, m.weights);
  let optimizer: ModelArtifacts['optimizer'] = null;
  const opt = m.optimizer as { config: unknown; state: unknown } | null;
  if (opt) {
    if (!files[OPTIMIZER]) fail(dir, `model.json lists optimizer state but names no ${OPTIMIZER}`);
    optimizer = { config: opt.config, state: readTensors(dir, files[OPTIMIZER], OPTIMIZER, opt.state) };
  }
  return {
    producer: String(m.producer ?? ''),
    formatVersion: version,
    topology: m.topology,
    trainingConfig: m.trainingConfig ?? null,
    weights,
    optimizer,
    training: m.training ?? null,
  };
}
