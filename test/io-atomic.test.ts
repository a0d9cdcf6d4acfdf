// Crash-safe writes: atomic file replacement and versioned directory commits, tested by SIGKILLing
// a child process that saves in a loop at random moments.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { commitDirectorySync, LOCK_FILE, readVerifiedSync, writeFileAtomicSync, type FileRef } from '../lib/io/atomic';
import { decodeSafetensors, readSafetensors } from '../lib/io/safetensors';
import { tempDir } from './support/temp-dir';

const CHILD = path.join(__dirname, 'io-helpers', 'save-loop.ts');

function tmpDir(): string {
  return tempDir('cdcgru-io-');
}

/** Starts the save loop, waits until version 1 is complete, lets it run `ms` more, SIGKILLs it. */
async function saveAndKill(mode: 'dir' | 'file', target: string, floats: number, ms: number): Promise<void> {
  const child = spawn(process.execPath, ['-r', 'tsx/cjs', CHILD, mode, target, String(floats)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => { if (String(d).includes('ready')) resolve(); });
    child.on('exit', (code) => reject(new Error(`save loop exited (${code}) before its first save: ${stderr}`)));
  });
  await new Promise((r) => setTimeout(r, ms));
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await exited;
}

function checkVersion(file: string, buf: Buffer, floats: number): number {
  const st = decodeSafetensors(buf, file);
  const w = st.tensors.get('w')!.data as Float32Array;
  assert.equal(w.length, floats);
  const version = Number(st.metadata.version);
  assert.ok(w.every((v) => v === version), `${file}: data mixes versions`);
  return version;
}

describe('io: atomic writes', () => {
  it('writeFileAtomicSync replaces a file and leaves no temporary files', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'a.txt');
    writeFileAtomicSync(f, 'one');
    writeFileAtomicSync(f, [Buffer.from('tw'), Buffer.from('o')]);
    assert.equal(fs.readFileSync(f, 'utf8'), 'two');
    assert.deepEqual(fs.readdirSync(dir), ['a.txt']);
  });

  it('a failed atomic write names the file and leaves the old content', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'sub');
    fs.mkdirSync(f); // renaming a file over a directory fails
    assert.throws(() => writeFileAtomicSync(f, 'x'), /writeFileAtomic: cannot write .*sub/);
    assert.deepEqual(fs.readdirSync(dir), ['sub']);
  });

  it('commitDirectorySync keeps exactly one version and removes older ones', () => {
    const dir = path.join(tmpDir(), 'model');
    for (let v = 1; v <= 3; v++) {
      commitDirectorySync(dir, { 'weights.safetensors': `w${v}`, 'extra.bin': `e${v}` }, (refs) => JSON.stringify({ v, refs }));
    }
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    assert.equal(m.v, 3);
    assert.equal(readVerifiedSync(dir, m.refs['weights.safetensors'], 'weights').toString(), 'w3');
    assert.equal(fs.readdirSync(dir).length, 3);
    // A version without the optional file: its old copies go when named in ownedFiles.
    commitDirectorySync(dir, { 'weights.safetensors': 'w4' }, (refs) => JSON.stringify({ v: 4, refs }), { ownedFiles: ['extra.bin'] });
    assert.equal(fs.readdirSync(dir).length, 2);
  });

  it('an interrupted commit (crash before the manifest) leaves the previous version current', () => {
    const dir = path.join(tmpDir(), 'model');
    commitDirectorySync(dir, { 'weights.safetensors': 'old' }, (refs) => JSON.stringify(refs));
    assert.throws(() => commitDirectorySync(dir, { 'weights.safetensors': 'new' }, (refs) => JSON.stringify(refs), {
      beforeCommit: () => { throw new Error('simulated crash'); },
    }), /simulated crash/);
    const refs = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    assert.equal(readVerifiedSync(dir, refs['weights.safetensors'], 'weights').toString(), 'old');
  });

  it('readVerifiedSync reports truncated and corrupted files by name', () => {
    const dir = path.join(tmpDir(), 'model');
    commitDirectorySync(dir, { 'weights.safetensors': 'abcdef' }, (refs) => JSON.stringify(refs));
    const ref: FileRef = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'))['weights.safetensors'];
    const file = path.join(dir, ref.file);
    fs.writeFileSync(file, 'abc');
    assert.throws(() => readVerifiedSync(dir, ref, 'weights'), /weights: .*weights-v[0-9a-f]+\.safetensors has 3 bytes, the manifest says 6/);
    fs.writeFileSync(file, 'abcdeX');
    assert.throws(() => readVerifiedSync(dir, ref, 'weights'), /corrupted \(SHA-256/);
    fs.unlinkSync(file);
    assert.throws(() => readVerifiedSync(dir, ref, 'weights'), /cannot read/);
    assert.throws(() => readVerifiedSync(dir, { ...ref, file: '../x' }, 'weights'), /file reference is invalid/);
  });

  it('SIGKILL at random moments during directory saves always leaves one complete version', async function () {
    this.timeout(120000);
    const dir = path.join(tmpDir(), 'model');
    const floats = 300_000; // 1.2 MB per data file: kills land inside writes
    let last = 0;
    const seen = new Set<number>();
    for (let round = 0; round < 12; round++) {
      await saveAndKill('dir', dir, floats, Math.floor(Math.random() * 150));
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
      for (const logical of ['weights.safetensors', 'optimizer.safetensors']) {
        const ref: FileRef = manifest.files[logical];
        const v = checkVersion(ref.file, readVerifiedSync(dir, ref, logical), floats);
        assert.equal(v, manifest.version, 'manifest and data file disagree on the version');
      }
      seen.add(manifest.version);
      last = manifest.version;
      // Leftovers of a killed save (its files and temp manifest) are cleaned by the next save: never more than two versions
      // (the killed saver's lock files are not versions; the next save takes the stale lock over).
      const files = fs.readdirSync(dir).filter((n) => !n.startsWith(LOCK_FILE));
      assert.ok(files.length <= 6, `leftovers: ${files}`);
    }
    assert.ok(last >= 1 && seen.size >= 1);
  });

  it('SIGKILL at random moments during atomic file writes never leaves a partial file', async function () {
    this.timeout(120000);
    const dir = tmpDir();
    const file = path.join(dir, 'w.safetensors');
    for (let round = 0; round < 10; round++) {
      await saveAndKill('file', file, 300_000, Math.floor(Math.random() * 120));
      checkVersion(file, fs.readFileSync(file), 300_000);
      readSafetensors(file);
    }
  });
});
