// Saving under faults: a full disk (a real 2 MB tmpfs where mounting is allowed, an injected
// ENOSPC everywhere), a directory written by a newer format version, concurrent savers and
// readers in separate processes, stale and live locks, and unknown options of every io function.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { layers as L, loadModel, sequential, type Sequential } from '../lib';
import { assignModules } from '../lib/io/assign';
import { commitDirectorySync, LOCK_FILE } from '../lib/io/atomic';
import { loadArtifacts, saveArtifacts, type ModelArtifacts } from '../lib/io/artifacts';
import { exportOnnx, loadWeights, saveModel } from '../lib/io/model-io';
import { tempDir } from './support/temp-dir';

// The module object itself (not an import namespace) so that a test can swap writeSync.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fsModule: typeof fs = require('node:fs');

const CHILD = path.join(__dirname, 'io-helpers', 'concurrent-save.ts');
const HDF5_MUTATE = path.join(__dirname, 'io-helpers', 'hdf5-mutate.ts');

function artifacts(floats: number, value: number): ModelArtifacts {
  return { topology: { value }, weights: new Map([['w', { shape: [floats], data: new Float32Array(floats).fill(value) }]]) };
}

function loadedValue(dir: string): number {
  const w = loadArtifacts(dir).weights.get('w')!.data;
  assert.ok(w.every((v) => v === w[0]), 'one version');
  return w[0]!;
}

/** The directory's files, sorted (the lock file exists only while a save runs). */
function filesIn(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

function smallModel(): Sequential {
  return sequential([L.dense({ units: 2, inputShape: [3] })]);
}

describe('io: saving under faults', function () {
  this.timeout(120000);

  describe('a full disk', () => {
    it('on a 2 MB tmpfs: the failed save removes its partial file, the previous save stays loadable, the next save succeeds', function () {
      const mnt = tempDir('cdcgru-tmpfs-');
      const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { encoding: 'utf8' });
      if (mount.status !== 0) {
        this.skip(); // mounting needs root (CAP_SYS_ADMIN); the injected-ENOSPC test below runs everywhere
      }
      try {
        const dir = path.join(mnt, 'model');
        saveArtifacts(dir, artifacts(50_000, 1)); // 200 KB
        const before = filesIn(dir);
        for (let attempt = 0; attempt < 3; attempt++) {
          assert.throws(() => saveArtifacts(dir, artifacts(600_000, 2)), /save: cannot write weights\.safetensors into .*ENOSPC/); // 2.4 MB
          assert.deepEqual(filesIn(dir), before, 'the failed save left files behind');
          assert.equal(loadedValue(dir), 1);
        }
        saveArtifacts(dir, artifacts(100_000, 3));
        assert.equal(loadedValue(dir), 3);
        assert.equal(filesIn(dir).length, 2, `${filesIn(dir)}`);
      } finally {
        spawnSync('umount', [mnt]);
      }
    });

    for (const failing of ['the lock file', 'the second data file', 'the manifest'] as const) {
      it(`an injected ENOSPC while writing ${failing} leaves only the previous version`, () => {
        const dir = path.join(tempDir('cdcgru-enospc-'), 'model');
        const withOptimizer = (value: number): ModelArtifacts => ({ ...artifacts(1000, value), optimizer: { config: {}, state: new Map([['s', { shape: [10], data: new Float32Array(10) }]]) } });
        saveArtifacts(dir, withOptimizer(1));
        const before = filesIn(dir);
        // Writes to the file named by `target` fail as on a full disk; the rest go through.
        const target = { 'the lock file': /^\.cudnn-gru\.lock\.tmp-/, 'the second data file': /^optimizer-v/, 'the manifest': /^\.model\.json\.tmp-/ }[failing];
        const { openSync, writeSync } = fsModule;
        const names = new Map<number, string>();
        fsModule.openSync = ((file: fs.PathLike, ...rest: unknown[]) => {
          const fd = (openSync as (...a: unknown[]) => number)(file, ...rest);
          names.set(fd, path.basename(String(file)));
          return fd;
        }) as typeof fs.openSync;
        fsModule.writeSync = ((fd: number, ...rest: unknown[]) => {
          if (target.test(names.get(fd) ?? '')) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          return (writeSync as (...a: unknown[]) => number)(fd, ...rest);
        }) as typeof fs.writeSync;
        try {
          assert.throws(() => saveArtifacts(dir, withOptimizer(2)), /^Error: (save|writeFileAtomic): cannot (write|create) .*ENOSPC: no space left on device/);
        } finally {
          fsModule.openSync = openSync;
          fsModule.writeSync = writeSync;
        }
        assert.deepEqual(filesIn(dir), before);
        assert.equal(loadedValue(dir), 1);
        saveArtifacts(dir, withOptimizer(3));
        assert.equal(loadedValue(dir), 3);
      });
    }
  });

  describe('a directory written by a newer format version', () => {
    it('model.save refuses to replace it unless overwrite: true, and leaves it untouched', () => {
      const dir = path.join(tempDir('cdcgru-newer-'), 'model');
      const model = smallModel();
      try {
        model.save(dir);
        const manifest = path.join(dir, 'model.json');
        const newer = JSON.parse(fs.readFileSync(manifest, 'utf8'));
        newer.formatVersion = 99;
        newer.producer = 'cudnn-gru 9.0.0';
        fs.writeFileSync(manifest, JSON.stringify(newer));
        const before = filesIn(dir).map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]);
        assert.throws(() => model.save(dir), /save: .* format version 99 \(written by cudnn-gru 9\.0\.0\), newer than this library's 1; .*overwrite: true/);
        assert.deepEqual(filesIn(dir).map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]), before);
        model.save(dir, { overwrite: true });
        const again = loadModel(dir);
        assert.deepEqual(again.params.map((p) => [...p.value.dataSync()]), model.params.map((p) => [...p.value.dataSync()]));
        again.dispose();
      } finally {
        model.dispose();
      }
    });

    it('a foreign model.json (another library\'s) is not replaced either', () => {
      const dir = tempDir('cdcgru-foreign-');
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: {}, weightsManifest: [] }));
      assert.throws(() => saveArtifacts(dir, artifacts(10, 1)), /already holds a model\.json that is not a cudnn-gru-model manifest; .*overwrite: true/);
      assert.deepEqual(filesIn(dir), ['model.json']);
      saveArtifacts(dir, artifacts(10, 1), { overwrite: true });
      assert.equal(loadedValue(dir), 1);
    });
  });

  describe('locks and concurrent processes', () => {
    function runChild(args: string[]): Promise<{ ok: number; failures: string[]; versions: number }> {
      const child = spawn(process.execPath, ['-r', 'tsx/cjs', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      return new Promise((resolve, reject) => {
        child.on('exit', (code, signal) => {
          if (code !== 0) reject(new Error(`child ${args.join(' ')} exited with ${code ?? signal}: ${err}`));
          else resolve(JSON.parse(out));
        });
      });
    }

    it('two processes saving into one directory while a third loads: no ENOENT, loads succeed or say why, the directory loads at the end', async function () {
      this.timeout(60000);
      const dir = path.join(tempDir('cdcgru-concurrent-'), 'model');
      saveArtifacts(dir, artifacts(60_000, 0));
      const [a, b, reader] = await Promise.all([
        runChild(['save', dir, '60', '1']),
        runChild(['save', dir, '60', '2']),
        runChild(['load', dir, '6000']),
      ]);
      assert.deepEqual([...a.failures, ...b.failures], [], 'every save succeeds (they wait for each other)');
      assert.equal(a.ok + b.ok, 120);
      for (const message of reader.failures) {
        assert.doesNotMatch(message, /ENOENT/);
        assert.match(message, /replaced twice while being read \(another process is saving into it\); retry/);
      }
      assert.ok(reader.ok > 0, `the reader never loaded (${reader.failures.length} failures: ${reader.failures[0]})`);
      assert.ok(reader.versions > 10, `the reader saw ${reader.versions} versions: it did not run while the savers did`);
      const last = loadedValue(dir);
      assert.ok(last === 1e6 + 60 || last === 2e6 + 60, `the final version is one saver's last: ${last}`);
      assert.ok(!fs.existsSync(path.join(dir, LOCK_FILE)), 'the lock is released');
      assert.equal(filesIn(dir).length, 2, `${filesIn(dir)}`);
    });

    it('a lock left by a dead process is taken over; a live one makes the save wait, then fail naming the owner', async () => {
      const dir = path.join(tempDir('cdcgru-lock-'), 'model');
      saveArtifacts(dir, artifacts(10, 1));
      const lock = path.join(dir, LOCK_FILE);
      const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
      fs.writeFileSync(lock, JSON.stringify({ pid: Number(dead.stdout), host: os.hostname(), token: 'dead', since: 'then' }));
      saveArtifacts(dir, artifacts(10, 2));
      assert.equal(loadedValue(dir), 2);
      assert.ok(!fs.existsSync(lock));

      const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
      try {
        fs.writeFileSync(lock, JSON.stringify({ pid: holder.pid, host: os.hostname(), token: 'live', since: 'now' }));
        const started = Date.now();
        assert.throws(() => saveArtifacts(dir, artifacts(10, 3), { lockTimeoutMs: 300 }), new RegExp(`is locked by another save \\(process ${holder.pid} on .*\\); waited 300 ms. If no process is saving there, delete .*${LOCK_FILE.replace(/\./g, '\\.')}`));
        assert.ok(Date.now() - started >= 300, 'it waited');
        assert.equal(loadedValue(dir), 2, 'nothing was written');
        assert.ok(fs.existsSync(lock), 'the live lock is left alone');
      } finally {
        const exited = new Promise((r) => holder.on('exit', r));
        holder.kill('SIGKILL');
        await exited;
      }
      saveArtifacts(dir, artifacts(10, 4)); // its owner is gone now
      assert.equal(loadedValue(dir), 4);
    });
  });

  describe('damaged HDF5 files', () => {
    it('4,000 seeded mutations of the fixtures each load or throw an Hdf5Error/WeightImportError (in a child process: a hang or crash fails)', () => {
      const run = spawnSync(process.execPath, ['-r', 'tsx/cjs', HDF5_MUTATE, '20261201', '4000'], { encoding: 'utf8', timeout: 90_000 });
      assert.equal(run.error, undefined, `the child did not finish: ${run.error?.message}`);
      assert.equal(run.status, 0, `the child failed (${run.signal ?? run.status}): ${run.stderr}`);
      const result: { ok: number; refused: number; others: unknown[] } = JSON.parse(run.stdout);
      assert.deepEqual(result.others, [], 'errors other than Hdf5Error/WeightImportError');
      assert.equal(result.ok + result.refused, 4000);
      assert.ok(result.ok > 100 && result.refused > 100, `the mutations exercise both outcomes: ${JSON.stringify(result)}`);
    });
  });

  describe('options of the io functions', () => {
    it('every options object refuses an unknown key, naming the function, the key and the closest known one', () => {
      const model = smallModel();
      const dir = path.join(tempDir('cdcgru-options-'), 'model');
      try {
        model.save(dir);
        const cases: [string, () => unknown, RegExp][] = [
          ['save', () => model.save(dir, { includeOptimiser: false } as never), /save: unknown option 'includeOptimiser' \(did you mean 'includeOptimizer'\?\)/],
          ['saveModel', () => saveModel(model, dir, { overwrit: true } as never), /save: unknown option 'overwrit' \(did you mean 'overwrite'\?\)/],
          ['loadModel', () => loadModel(dir, { compiled: false } as never), /loadModel: unknown option 'compiled' \(did you mean 'compile'\?\)/],
          ['loadWeights', () => loadWeights(model, 'w.safetensors', { formats: 'torch' } as never), /loadWeights: unknown option 'formats' \(did you mean 'format'\?\)/],
          ['model.loadWeights', () => model.loadWeights('w.h5', { maping: {} } as never), /loadWeights: unknown option 'maping' \(did you mean 'mapping'\?\)/],
          ['exportOnnx', () => exportOnnx(model, path.join(dir, 'm.onnx'), { opSet: 17 } as never), /exportOnnx: unknown option 'opSet' \(did you mean 'opset'\?\)/],
          ['model.exportOnnx', () => model.exportOnnx(path.join(dir, 'm.onnx'), { ignore_masking: true } as never), /exportOnnx: unknown option 'ignore_masking' \(did you mean 'ignoreMasking'\?\)/],
          ['save (not an object)', () => model.save(dir, 'overwrite' as never), /save: options must be an object, got the string 'overwrite'/],
          ['save (a wrong type)', () => model.save(dir, { lockTimeoutMs: -1 }), /save: option 'lockTimeoutMs' must be a non-negative number of milliseconds, got number -1/],
          ['save (training)', () => model.save(dir, { training: { epoch: 1.5 } }), /save: option 'training.epoch' must be a non-negative integer, got number 1.5/],
          ['loadModel (a wrong type)', () => loadModel(dir, { compile: 'yes' } as never), /loadModel: option 'compile' must be a boolean, got the string 'yes'/],
          ['loadWeights (mapping)', () => model.loadWeights('w.h5', { mapping: { dense: 3 } } as never), /loadWeights: option 'mapping' must be an object of layer name → module name/],
          ['saveModel (not a model)', () => saveModel({} as never, dir), /save: argument 'model' must be a Sequential or functional model, got an instance of Object/],
          ['loadModel (not a path)', () => loadModel(42 as never), /loadModel: argument 'dir' must be a non-empty path string, got number 42/],
          ['saveArtifacts', () => saveArtifacts(dir, artifacts(2, 1), { overWrite: true } as never), /save: unknown option 'overWrite' \(did you mean 'overwrite'\?\)/],
          ['commitDirectorySync', () => commitDirectorySync(dir, {}, () => '{}', { lockTimeout: 5 } as never), /commitDirectory: unknown option 'lockTimeout' \(did you mean 'lockTimeoutMs'\?\)/],
          ['assignModules', () => assignModules([], [], { format: 'keras', maping: {} } as never), /assignModules: unknown option 'maping' \(did you mean 'mapping'\?\)/],
        ];
        for (const [what, call, expected] of cases) assert.throws(call, expected, what);
        const again = loadModel(dir);
        again.dispose();
      } finally {
        model.dispose();
      }
    });
  });
});
