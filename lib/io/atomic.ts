// Crash-safe writes.
//
// Files: writeFileAtomic() writes to a temporary file in the same directory, fsyncs it, renames it
// over the target and fsyncs the directory. rename(2) within one file system is atomic, so a
// reader (or a crash at any moment) sees either the old complete file or the new complete one.
//
// Directories (a saved model is a directory of several files): POSIX cannot rename a directory over
// a non-empty one, so "write dir.tmp, then swap" takes two renames (dir → dir.old, dir.tmp → dir)
// and a crash between them leaves no directory at the path at all. Instead, commitDirectory()
// keeps the directory and makes ONE small file, the manifest (model.json), the commit point:
//   1. every data file is written under a fresh unique name (weights-<random>.safetensors), fsynced;
//      nothing refers to it yet, so a crash here leaves the old version untouched;
//   2. the manifest naming the new files (with their sizes and SHA-256) replaces the old manifest
//      through writeFileAtomic(): this rename is the instant the new version becomes current;
//   3. files of the previous version, and leftovers of interrupted saves, are deleted.
// At every instant the manifest names one complete, fsynced version. Readers open the manifest
// first and verify each file's size and hash, so a damaged file is reported, never half-used.
// A failed write (a full disk) removes what it wrote, so it never leaves space taken.
//
// Writers to one directory take turns through an advisory lock file (LOCK_FILE, holding the
// owner's pid and host): a second saver waits for it, and fails with a message naming the owner
// when it does not come free in time. A lock whose owner died (same host, pid gone) is stale and
// taken over. Readers take no lock: a reader that loses a race with a commit (a data file deleted
// under it) sees a new manifest and retries (artifacts.ts).
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe } from '../backend';
import { checkOptions } from '../options';
import { checkFunction, checkObject, checkPath, preview } from './args';

export type FileData = string | Uint8Array | readonly Uint8Array[];

function chunksOf(data: FileData): Uint8Array[] {
  if (typeof data === 'string') return [Buffer.from(data, 'utf8')];
  if (data instanceof Uint8Array) return [data];
  return [...data];
}

function checkFileData(op: string, name: string, data: unknown): asserts data is FileData {
  const ok = typeof data === 'string' || data instanceof Uint8Array || (Array.isArray(data) && data.every((c) => c instanceof Uint8Array));
  if (!ok) throw new TypeError(`${op}: argument '${name}' must be a string, a Uint8Array or an array of Uint8Arrays, got ${describe(data)}`);
}

function writeAllSync(fd: number, chunks: Uint8Array[]): number {
  let total = 0;
  for (const chunk of chunks) {
    let off = 0;
    while (off < chunk.byteLength) {
      off += fs.writeSync(fd, chunk, off, chunk.byteLength - off);
    }
    total += chunk.byteLength;
  }
  return total;
}

/** fsync a directory so that renames and creations inside it are durable (no-op where unsupported). */
export function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (err) {
    // Windows cannot open directories; some file systems refuse fsync on them.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw err;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function tempNameFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * Writes `data` to a new file (fails if it exists) and fsyncs it. Returns the byte count. When a
 * write fails (ENOSPC, EIO, ...) the partial file is removed: a full disk stays no fuller.
 */
export function writeFileDurableSync(file: string, data: FileData): number {
  const fd = fs.openSync(file, 'wx', 0o644);
  let written = false;
  try {
    const n = writeAllSync(fd, chunksOf(data));
    fs.fsyncSync(fd);
    written = true;
    return n;
  } finally {
    fs.closeSync(fd);
    if (!written) removeQuietly(file);
  }
}

function removeQuietly(file: string): void {
  try { fs.unlinkSync(file); } catch { /* already gone */ }
}

/**
 * Replaces `file` with `data` atomically and durably: a crash at any point leaves either the old
 * content or the new one, never a mix or a truncated file.
 */
export function writeFileAtomicSync(file: string, data: FileData): void {
  checkPath('writeFileAtomic', 'file', file);
  checkFileData('writeFileAtomic', 'data', data);
  const tmp = tempNameFor(file);
  try {
    writeFileDurableSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (err) {
    removeQuietly(tmp);
    throw new Error(`writeFileAtomic: cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
  fsyncDirSync(path.dirname(path.resolve(file)));
}

/** Promise form of writeFileAtomicSync (the work itself is synchronous). */
export async function writeFileAtomic(file: string, data: FileData): Promise<void> {
  writeFileAtomicSync(file, data);
}

/** What a manifest records about one data file. */
export interface FileRef {
  /** The file's name inside the directory. */
  file: string;
  bytes: number;
  sha256: string;
}

export function sha256Of(chunks: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}

/** Matches names made by commitDirectory() for `stem`.`ext` and temporary files. */
const VERSIONED = /^(.+)-v[0-9a-f]{12}(\.[A-Za-z0-9.]+)?$/;
const TEMP = /^\..+\.tmp-\d+-[0-9a-f]{8}$/;

export interface CommitOptions {
  /** Manifest file name (the commit point). Default 'model.json'. */
  manifest?: string;
  /**
   * Called after the data files are written and before the manifest is: a test hook for
   * simulating crashes. Not for general use.
   */
  beforeCommit?: () => void;
  /** Further logical names whose old versions are this artifact's to delete (e.g. an optional file). */
  ownedFiles?: readonly string[];
  /** Called holding the directory's lock, before anything is written: throws to refuse the save. */
  checkExisting?: (dir: string) => void;
  /** How long to wait for another saver's lock, in ms (default DEFAULT_LOCK_TIMEOUT_MS). */
  lockTimeoutMs?: number;
}
const COMMIT_OPTIONS = ['manifest', 'beforeCommit', 'ownedFiles', 'checkExisting', 'lockTimeoutMs'] as const;

/**
 * Writes one version of a multi-file artifact into `dir` (created when missing) crash-safely; see
 * the top of this file. `files` maps a logical name (`weights.safetensors`) to its content;
 * `manifest` receives the FileRef of each (stored under a unique versioned name) and returns the
 * manifest's content. Files of earlier versions are removed after the commit.
 */
export function commitDirectorySync(
  dir: string,
  files: Record<string, FileData>,
  manifest: (refs: Record<string, FileRef>) => string | Uint8Array,
  options: CommitOptions = {},
): void {
  checkPath('commitDirectory', 'dir', dir);
  checkObject('commitDirectory', 'files', files, 'an object of file name → content');
  for (const [name, data] of Object.entries(files)) checkFileData('commitDirectory', `files.${name}`, data);
  checkFunction('commitDirectory', 'manifest', manifest);
  checkOptions('commitDirectory', options, COMMIT_OPTIONS);
  const absDir = path.resolve(dir);
  if (fs.existsSync(absDir)) {
    if (!fs.statSync(absDir).isDirectory()) throw new Error(`save: ${dir} exists and is not a directory`);
  } else {
    fs.mkdirSync(absDir, { recursive: true });
    fsyncDirSync(path.dirname(absDir));
  }
  withDirectoryLock(absDir, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, () => {
    options.checkExisting?.(absDir);
    commitLocked(absDir, files, manifest, options);
  });
}

function commitLocked(
  absDir: string,
  files: Record<string, FileData>,
  manifest: (refs: Record<string, FileRef>) => string | Uint8Array,
  options: CommitOptions,
): void {
  const manifestName = options.manifest ?? 'model.json';
  const version = randomBytes(6).toString('hex');
  const refs: Record<string, FileRef> = {};
  const written: string[] = [];
  try {
    for (const [logical, data] of Object.entries(files)) {
      if (logical.includes('/') || logical.includes('\\') || logical === manifestName) {
        throw new Error(`save: invalid data file name '${logical}'`);
      }
      const ext = path.extname(logical);
      const name = `${logical.slice(0, logical.length - ext.length)}-v${version}${ext}`;
      const chunks = chunksOf(data);
      let bytes: number;
      try {
        bytes = writeFileDurableSync(path.join(absDir, name), chunks);
      } catch (err) {
        throw new Error(`save: cannot write ${logical} into ${absDir}: ${(err as Error).message}`, { cause: err });
      }
      written.push(name);
      refs[logical] = { file: name, bytes, sha256: sha256Of(chunks) };
    }
    fsyncDirSync(absDir);
    options.beforeCommit?.();
    writeFileAtomicSync(path.join(absDir, manifestName), manifest(refs));
  } catch (err) {
    for (const name of written) removeQuietly(path.join(absDir, name));
    throw err;
  }
  // Committed. Remove what the new manifest does not reference: older versions and leftovers of
  // interrupted saves (only names this module makes, never a user's own files).
  const keep = new Set(Object.values(refs).map((r) => r.file));
  const stems = new Set([...Object.keys(files), ...(options.ownedFiles ?? [])].map((l) => l.slice(0, l.length - path.extname(l).length)));
  for (const name of fs.readdirSync(absDir)) {
    if (keep.has(name)) continue;
    const m = VERSIONED.exec(name);
    const ours = (m && stems.has(m[1])) || (TEMP.test(name) && name.startsWith(`.${manifestName}.tmp-`)) || deadLockLeftover(name);
    if (ours) removeQuietly(path.join(absDir, name));
  }
}

// ------------------------------------------------------------------ the directory lock

/** The lock file inside a directory being saved. */
export const LOCK_FILE = '.cudnn-gru.lock';
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

interface LockOwner {
  pid: number;
  host: string;
  token: string;
  since: string;
}

/** Files of a lock holder killed while taking or breaking the lock: `.cudnn-gru.lock.tmp-<pid>-<id>`. */
const LOCK_LEFTOVER = /^\.cudnn-gru\.lock\.(?:tmp|stale)-(\d+)-[0-9a-f]+$/;

function deadLockLeftover(name: string): boolean {
  const m = LOCK_LEFTOVER.exec(name);
  return m !== null && Number(m[1]) !== process.pid && !processAlive(Number(m[1]));
}

function readLockOwner(file: string): LockOwner | null {
  try {
    const owner = JSON.parse(fs.readFileSync(file, 'utf8')) as LockOwner;
    return typeof owner?.pid === 'number' && typeof owner.token === 'string' ? owner : null;
  } catch {
    return null; // released meanwhile, or not a lock this library wrote
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Takes over a stale lock: renames it aside (atomic: one contender wins) and deletes it if it is
 * still the stale owner's; a fresh lock taken meanwhile by another process is put back.
 */
function breakStaleLock(file: string, stale: LockOwner, token: string): void {
  const aside = `${file}.stale-${token}`;
  try {
    fs.renameSync(file, aside);
  } catch {
    return; // someone else broke it first
  }
  const moved = readLockOwner(aside);
  if (moved && moved.token !== stale.token) {
    try { fs.linkSync(aside, file); } catch { /* a newer lock exists: the moved one's owner lost it */ }
  }
  removeQuietly(aside);
}

/** Runs `fn` holding `dir`'s lock file, waiting up to `timeoutMs` for another holder. */
export function withDirectoryLock<T>(dir: string, timeoutMs: number, fn: () => T): T {
  const file = path.join(dir, LOCK_FILE);
  const token = `${process.pid}-${randomBytes(8).toString('hex')}`;
  const me: LockOwner = { pid: process.pid, host: os.hostname(), token, since: new Date().toISOString() };
  // Written whole under a temporary name, then linked: the lock file never exists half-written.
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileDurableSync(tmp, JSON.stringify(me));
  } catch (err) {
    throw new Error(`save: cannot create the lock file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const deadline = Date.now() + timeoutMs;
  try {
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      try {
        fs.linkSync(tmp, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`save: cannot create the lock file ${file}: ${(err as Error).message}`, { cause: err });
      }
      const owner = readLockOwner(file);
      if (owner && owner.host === me.host && owner.pid !== process.pid && !processAlive(owner.pid)) {
        breakStaleLock(file, owner, token);
        continue;
      }
      if (Date.now() >= deadline) {
        const who = owner ? `process ${owner.pid} on ${owner.host}, since ${owner.since}` : 'an unknown owner';
        throw new Error(`save: ${dir} is locked by another save (${who}); waited ${timeoutMs} ms. If no process is saving there, delete ${file}`);
      }
      sleepSync(wait);
    }
  } finally {
    removeQuietly(tmp);
  }
  try {
    return fn();
  } finally {
    if (readLockOwner(file)?.token === token) removeQuietly(file);
  }
}

/**
 * Reads a file a manifest refers to, checking its size and SHA-256 so that a truncated or damaged
 * file is reported (naming it) instead of being used.
 */
export function readVerifiedSync(dir: string, ref: FileRef, what: string): Buffer {
  checkPath('load', 'dir', dir);
  if (!ref || typeof ref.file !== 'string' || ref.file.includes('/') || ref.file.includes('\\') || ref.file.startsWith('..')) {
    throw new Error(`load: ${what}: the manifest's file reference is invalid: ${preview(ref)}`);
  }
  const file = path.join(dir, ref.file);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw new Error(`load: ${what}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof ref.bytes === 'number' && buf.byteLength !== ref.bytes) {
    throw new Error(`load: ${what}: ${file} has ${buf.byteLength} bytes, the manifest says ${ref.bytes} (truncated or replaced)`);
  }
  if (typeof ref.sha256 === 'string' && sha256Of([buf]) !== ref.sha256) {
    throw new Error(`load: ${what}: ${file} is corrupted (SHA-256 differs from the manifest's)`);
  }
  return buf;
}
