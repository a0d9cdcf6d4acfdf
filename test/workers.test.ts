// Worker threads: terminating a worker that runs library code must never take the process down,
// and a terminated worker's native memory is released with its environment.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';

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
// once it has finished at least one piece of work; prints how many it terminated.
function terminateChild(workers: number): string {
  return `const { Worker } = require('node:worker_threads');
const source = ${JSON.stringify(LOOP)};
let terminated = 0;
Promise.all(Array.from({ length: ${workers} }, () => new Promise((resolve, reject) => {
  const w = new Worker(source, { eval: true });
  w.on('error', reject);
  w.once('message', () => setTimeout(() => w.terminate().then(() => { terminated++; resolve(); }, reject), Math.random() * 400));
}))).then(() => console.log('terminated ' + terminated), (e) => { console.log('worker failed: ' + e.message); process.exit(1); });`;
}

describe('worker threads', function () {
  this.timeout(120000);

  it('terminating workers that run fit, trainOnBatch, predict and tensor ops never aborts the process', async () => {
    // Before the fix about one termination in three aborted (SIGABRT); 20 make a miss unlikely.
    const children = 4;
    const workersPerChild = 5;
    const started = Date.now();
    const results = [];
    for (let c = 0; c < children; c += 2) {
      results.push(...(await Promise.all([runChild(terminateChild(workersPerChild)), runChild(terminateChild(workersPerChild))])));
    }
    const aborted = results.filter((r) => r.status !== 0);
    assert.deepEqual(
      aborted.map((r) => `status ${r.status}, signal ${r.signal}: ${r.output.slice(-400)}`),
      [],
      `${aborted.length} of ${children} processes died`,
    );
    for (const r of results) assert.match(r.output, new RegExp(`^terminated ${workersPerChild}$`, 'm'));
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
});
