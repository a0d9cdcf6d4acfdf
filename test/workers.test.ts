// Worker threads: terminating a worker that runs library code must never take the process down,
// a terminated worker's native memory is released with its environment, and each worker has its
// own thread count.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { backendInfo, getNumThreads } from '../lib';

const root = path.join(__dirname, '..');
const tsx = require.resolve('tsx/cjs');
const lib = path.join(root, 'lib');

/** Worker code (run with eval) that loads the library through tsx and runs `body` with `g` bound to it. */
function workerSource(body: string): string {
  return `require(${JSON.stringify(tsx)}); const g = require(${JSON.stringify(lib)});
const { parentPort, workerData } = require('node:worker_threads');
${body}`;
}

/** Runs `code` in a fresh Node process; resolves with its exit status, signal and output. */
function runChild(code: string): Promise<{ status: number | null; signal: NodeJS.Signals | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', code], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (status, signal) => resolve({ status, signal, output }));
  });
}

// Library code of every kind in a loop, reporting each finished piece: fit (async), trainOnBatch,
// predict, plain tensor ops and an asynchronous read.
const LOOP = workerSource(`
const B = 16, T = 8, I = 4;
const model = g.sequential([g.layers.gru({ units: 16, inputShape: [T, I] }), g.layers.dense({ units: 1 })]);
model.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
const x = g.tensor(Float32Array.from({ length: B * T * I }, (_, i) => Math.sin(i)), [B, T, I]);
const y = g.tensor(Float32Array.from({ length: B }, (_, i) => Math.cos(i)), [B, 1]);
(async () => {
  for (let i = 0; ; i++) {
    if (i % 4 === 0) await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    if (i % 4 === 1) for (let k = 0; k < 20; k++) model.trainOnBatch(x, y);
    if (i % 4 === 2) model.predict(x).dispose();
    if (i % 4 === 3) {
      g.tidy(() => { let a = g.ones([64, 64]); for (let k = 0; k < 30; k++) a = g.ops.matMul(a, g.ops.scale(a, 1 / 64)); a.dataSync(); });
      const t = g.ones([4096]); await t.data(); t.dispose();
    }
    parentPort.postMessage(i);
  }
})();`);

// A child process that starts `workers` workers at once and terminates each at a random moment
// once it has finished at least one piece of work, and `early` more at a random moment while they
// load the library or start working; prints how many it terminated.
function terminateChild(workers: number, early: number): string {
  return `const { Worker } = require('node:worker_threads');
const source = ${JSON.stringify(LOOP)};
let terminated = 0;
Promise.all(Array.from({ length: ${workers + early} }, (_, i) => new Promise((resolve, reject) => {
  const w = new Worker(source, { eval: true });
  w.on('error', reject);
  const terminate = () => w.terminate().then(() => { terminated++; resolve(); }, reject);
  if (i < ${early}) setTimeout(terminate, Math.random() * 1500);
  else w.once('message', () => setTimeout(terminate, Math.random() * 400));
}))).then(() => console.log('terminated ' + terminated), (e) => { console.log('worker failed: ' + e.message); process.exit(1); });`;
}

describe('worker threads', function () {
  this.timeout(120000);

  it('terminating workers that run fit, trainOnBatch, predict and tensor ops never aborts the process', async () => {
    // Before the fix about one termination in three aborted (SIGABRT); 20 make a miss unlikely.
    const children = 4;
    const workersPerChild = 5;
    const earlyPerChild = 2;
    const started = Date.now();
    const results = [];
    for (let c = 0; c < children; c += 2) {
      const child = () => runChild(terminateChild(workersPerChild, earlyPerChild));
      results.push(...(await Promise.all([child(), child()])));
    }
    const aborted = results.filter((r) => r.status !== 0);
    assert.deepEqual(
      aborted.map((r) => `status ${r.status}, signal ${r.signal}: ${r.output.slice(-400)}`),
      [],
      `${aborted.length} of ${children} processes died`,
    );
    for (const r of results) assert.match(r.output, new RegExp(`^terminated ${workersPerChild + earlyPerChild}$`, 'm'));
    assert.ok(Date.now() - started < 60000, `took ${Date.now() - started} ms`);
  });

  it("releases a worker's native memory (tensors and GRU training state it never freed) when it ends or is terminated", async () => {
    // The worker keeps 50 tensors and a GRU training state alive, reports, then either returns
    // (its environment exits) or waits to be terminated.
    const hold = workerSource(`
const kept = Array.from({ length: 50 }, () => g.zeros([1000]));
const shapes = g.ops.gruParamShapes(2, 3, 1, false);
const params = Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, g.zeros(s)]));
const state = g.ops.gru(g.zeros([1, 2, 2]), params, { training: true });
parentPort.postMessage(g.memory().native.cpu);
if (workerData.wait) setInterval(() => {}, 1000);`);
    const code = `const { Worker } = require('node:worker_threads');
const g = require(${JSON.stringify(lib)});
const native = () => g.memory().native.cpu;
(async () => {
  const before = native();
  const held = [];
  for (const wait of [false, true]) {
    const w = new Worker(${JSON.stringify(hold)}, { eval: true, workerData: { wait } });
    held.push((await new Promise((resolve) => w.once('message', resolve))).buffers - before.buffers);
    if (wait) await w.terminate(); else await new Promise((resolve) => w.once('exit', resolve));
  }
  console.log(JSON.stringify({ held, after: native().buffers - before.buffers, afterBytes: native().bytes - before.bytes }));
})();`;
    const r = await runChild(`require(${JSON.stringify(tsx)}); ${code}`);
    assert.equal(r.status, 0, r.output);
    const report = JSON.parse(r.output.trim().split('\n').pop()!);
    for (const held of report.held) assert.ok(held >= 50 + 4 + 3, `the worker held ${held} native buffers`);
    assert.equal(report.after, 0, 'native buffers left after the workers ended');
    assert.equal(report.afterBytes, 0, 'native bytes left after the workers ended');
  });

  it('setNumThreads in one worker sets that worker\'s threads only (CPU engine and BLAS)', async () => {
    // Each worker answers 'set' by setting its count and 'check' with what its calls see, after a
    // matMul whose result is checked against a JS product.
    const source = workerSource(`
parentPort.on('message', ([what, n]) => {
  if (what === 'set') g.setNumThreads(n);
  const a = g.tensor(Float32Array.from({ length: 64 * 32 }, (_, i) => (i % 7) - 3), [64, 32]);
  const b = g.tensor(Float32Array.from({ length: 32 * 16 }, (_, i) => (i % 5) - 2), [32, 16]);
  const c = g.ops.matMul(a, b).dataSync(), av = a.dataSync(), bv = b.dataSync();
  let exact = true;
  for (let i = 0; i < 64; i++) for (let j = 0; j < 16; j++) {
    let s = 0;
    for (let k = 0; k < 32; k++) s += av[i * 32 + k] * bv[k * 16 + j];
    exact = exact && c[i * 16 + j] === s;
  }
  g.dispose([a, b]);
  const cpu = g.backendInfo().cpu;
  parentPort.postMessage({ threads: g.getNumThreads(), engine: cpu.threads, blas: cpu.blasThreads, blasIsBuiltin: cpu.blasIsBuiltin, blasName: cpu.blas, exact });
});`);
    const mainThreads = getNumThreads();
    const workers = [new Worker(source, { eval: true }), new Worker(source, { eval: true })];
    const ask = (w: Worker, message: [string, number?]) =>
      new Promise<{ threads: number; engine: number; blas: number; blasIsBuiltin: boolean; blasName: string; exact: boolean }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
        w.postMessage(message);
      });
    try {
      await ask(workers[0]!, ['set', 1]);
      await ask(workers[1]!, ['set', 3]);
      // Interleaved calls: each worker keeps its own count.
      for (let round = 0; round < 3; round++) {
        for (const [i, want] of [[0, 1], [1, 3]] as const) {
          const seen = await ask(workers[i]!, ['check']);
          assert.equal(seen.threads, want, `worker ${i}: getNumThreads`);
          assert.equal(seen.engine, want, `worker ${i}: backendInfo().cpu.threads`);
          if (!seen.blasIsBuiltin && seen.blasName !== 'Accelerate') assert.equal(seen.blas, want, `worker ${i}: BLAS threads in its calls`);
          assert.ok(seen.exact, `worker ${i}: matMul result`);
        }
      }
      assert.equal(getNumThreads(), mainThreads, 'the main thread keeps its own count');
      assert.equal(backendInfo().cpu.threads, mainThreads);
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  });
});
