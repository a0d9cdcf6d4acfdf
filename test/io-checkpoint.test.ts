// Checkpoints: modelCheckpoint saves (every N epochs, best on a metric) and training killed with
// SIGKILL mid-run, then resumed from its checkpoint, ends with exactly (bitwise) the weights of an
// uninterrupted run on the CPU.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { layers as L, optimizers, sequential, setSeed } from '../lib';
import { modelCheckpoint } from '../lib/callbacks/model-checkpoint';
import { loadArtifacts } from '../lib/io/artifacts';
import { loadModel, restoreCheckpoint } from '../lib/io/model-io';
import { rand } from './io-helpers/reference';
import { disposeModelsAfterEach } from './support/models';
import { tempDir } from './support/temp-dir';

const CHILD = path.join(__dirname, 'io-helpers', 'train-loop.ts');
const tmp = (): string => tempDir('cdcgru-ckpt-');

interface Run { stdout: string; code: number | null; killed: boolean }

/** Runs the training child; with killAfterEpoch, SIGKILLs it a random moment after that epoch ends. */
function train(args: string[], killAfterEpoch?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', 'tsx/cjs', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CUDNN_GRU_DEVICE: 'cpu' } });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      if (killAfterEpoch !== undefined && !killed && stdout.includes(`epoch ${killAfterEpoch}\n`)) {
        killed = true;
        setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 200));
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (!killed && code !== 0) reject(new Error(`training child failed (${code}): ${stderr}`));
      else resolve({ stdout, code, killed });
    });
  });
}

async function interruptedRun(shuffle: string, dropout: string, epochs: number): Promise<{ ref: Buffer; resumed: Buffer; resumedAt: number[] }> {
  const dir = tmp();
  await train([path.join(dir, 'unused'), path.join(dir, 'ref.safetensors'), String(epochs), shuffle, dropout, 'fresh']);
  const ckpt = path.join(dir, 'ckpt');
  const resumedAt: number[] = [];
  // Kill twice at random moments (after epochs 1 and 4 finished), then let it finish.
  for (const killAfter of [1, 4, undefined]) {
    const r = await train([ckpt, path.join(dir, 'out.safetensors'), String(epochs), shuffle, dropout], killAfter);
    const m = /resumed (\d+)/.exec(r.stdout);
    if (m) resumedAt.push(Number(m[1]));
    if (!r.killed) assert.ok(r.stdout.includes('done'));
  }
  return { ref: fs.readFileSync(path.join(dir, 'ref.safetensors')), resumed: fs.readFileSync(path.join(dir, 'out.safetensors')), resumedAt };
}

describe('io: checkpoints and resumed training', () => {
  it('interrupted twice by SIGKILL and resumed: final weights equal an uninterrupted run, bitwise (no shuffle, no dropout)', async function () {
    this.timeout(180000);
    const { ref, resumed, resumedAt } = await interruptedRun('0', '0', 8);
    assert.equal(resumedAt.length, 2, 'both restarts resumed from a checkpoint');
    assert.ok(resumedAt[0]! >= 2 && resumedAt[1]! >= 5, `resumed at epochs ${resumedAt}`);
    assert.ok(resumed.equals(ref), 'final weights differ from the uninterrupted run');
  });

  it('the same with shuffling and dropout (the checkpoint restores the RNG state)', async function () {
    this.timeout(180000);
    const { ref, resumed, resumedAt } = await interruptedRun('1', '1', 8);
    assert.equal(resumedAt.length, 2);
    assert.ok(resumedAt[0]! >= 2 && resumedAt[1]! >= 5, `resumed at epochs ${resumedAt}`);
    assert.ok(resumed.equals(ref), 'final weights differ from the uninterrupted run');
  });

  const made = disposeModelsAfterEach();

  function small() {
    setSeed(5);
    const m = sequential([L.gru({ units: 4, inputShape: [5, 3] }), L.dense({ units: 1 })]);
    m.compile({ optimizer: optimizers.sgd({ learningRate: 0.05, momentum: 0.5 }), loss: 'mse' });
    made.push(m);
    return m;
  }
  const x = { data: rand(24 * 5 * 3, 1, 1), shape: [24, 5, 3] };
  const y = { data: rand(24, 2, 1), shape: [24, 1] };

  it('saveFreq: a checkpoint every N epochs, {epoch} in the path, recording epoch and logs', async () => {
    const dir = tmp();
    const m = small();
    const cb = modelCheckpoint({ filepath: path.join(dir, 'e{epoch}'), saveFreq: 2 });
    await m.fit(x, y, { epochs: 5, batchSize: 8, verbose: 0, shuffle: false, callbacks: [cb] });
    assert.deepEqual(fs.readdirSync(dir).sort(), ['e2', 'e4']);
    const a = loadArtifacts(path.join(dir, 'e4'));
    assert.equal((a.training as { epoch: number }).epoch, 3);
    assert.ok(typeof (a.training as { logs: { loss: number } }).logs.loss === 'number');
    const loaded = loadModel(path.join(dir, 'e4'));
    made.push(loaded);
    assert.equal(loaded.optimizer!.iterations, 12);
  });

  it('saveBestOnly on val_loss keeps the best epoch; a missing metric is a clear error', async () => {
    const dir = tmp();
    const m = small();
    const cb = modelCheckpoint({ filepath: path.join(dir, 'best'), saveBestOnly: true, monitor: 'val_loss' });
    const h = await m.fit(x, y, { epochs: 6, batchSize: 8, verbose: 0, shuffle: false, validationData: [x, y], callbacks: [cb] });
    const losses = h.history.val_loss!;
    const bestEpoch = losses.indexOf(Math.min(...losses));
    assert.equal((loadArtifacts(path.join(dir, 'best')).training as { epoch: number }).epoch, bestEpoch);
    assert.equal(cb.best, losses[bestEpoch]);
    // A new callback on the same directory (a resumed run) continues from the recorded best.
    const again = modelCheckpoint({ filepath: path.join(dir, 'best'), saveBestOnly: true, monitor: 'val_loss' });
    again.onTrainBegin();
    assert.equal(again.best, cb.best);
    const bad = modelCheckpoint({ filepath: path.join(dir, 'x'), saveBestOnly: true, monitor: 'val_acc' });
    await assert.rejects(m.fit(x, y, { epochs: 1, verbose: 0, callbacks: [bad] }), /monitored metric 'val_acc' is not in the logs \(available: loss\)/);
    assert.throws(() => modelCheckpoint({ filepath: '' }), /'filepath'/);
  });

  it('fit({resumeFrom}) continues from a checkpoint in the same process, equal to an uninterrupted fit', async () => {
    const dir = tmp();
    const full = small();
    await full.fit(x, y, { epochs: 4, batchSize: 8, verbose: 0, shuffle: false });
    const a = small();
    await a.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0, shuffle: false, callbacks: [modelCheckpoint({ filepath: path.join(dir, 'c') })] });
    const b = small();
    const h = await b.fit(x, y, { epochs: 4, batchSize: 8, verbose: 0, shuffle: false, resumeFrom: path.join(dir, 'c') });
    assert.deepEqual(h.epoch, [2, 3]);
    full.getWeights().forEach((w, i) => assert.deepEqual(Array.from(b.getWeights()[i]!), Array.from(w)));
    assert.equal(b.optimizer!.iterations, full.optimizer!.iterations);
    // An empty or missing directory: a normal fit from epoch 0 (initialEpoch still applies).
    const c = small();
    assert.deepEqual((await c.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0, shuffle: false, resumeFrom: path.join(dir, 'none') })).epoch, [0, 1]);
    await assert.rejects(c.fit(x, y, { epochs: 1, verbose: 0, resumeFrom: '' }), /'resumeFrom' must be a checkpoint directory/);
    // A plain saved model is not a checkpoint; an uncompiled model cannot resume.
    const uncompiled = sequential([L.gru({ units: 4, inputShape: [5, 3] }), L.dense({ units: 1 })]);
    made.push(uncompiled);
    assert.throws(() => restoreCheckpoint(uncompiled, path.join(dir, 'c')), /compile the model before resuming/);
  });
});
