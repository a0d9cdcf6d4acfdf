// Resident memory of synchronous loops: whatever dispose()/tidy() free must release its native
// side at once (not when the event loop turns), so RSS stays flat in a loop that never yields.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
const WARMUP_STEPS = 10000; // V8's heap and code space settle in the first ten thousand steps or so
const STEPS = 20000;
const LIMIT_MB = 40;

interface LoopReport {
  growthMB: number;
  rssStartMB: number;
  msPerStep: number;
  tensorsBefore: number;
  tensorsAfter: number;
  buffersBefore: number;
  buffersAfter: number;
}

/**
 * Runs `step` (code with the library bound to `g`, x [4, 4, 2] and y [4, 1] defined) WARMUP_STEPS
 * times, then STEPS times without ever yielding, in a fresh process; reports the RSS growth over
 * the measured steps and the live tensors and native buffers before and after them.
 */
function measureLoop(setup: string, step: string): LoopReport {
  const code = `const g = require('./lib');
const x = g.tensor(Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)), [4, 4, 2]);
const y = g.tensor(Float32Array.from({ length: 4 }, (_, i) => Math.cos(i)), [4, 1]);
${setup}
const step = () => { ${step} };
for (let i = 0; i < ${WARMUP_STEPS}; i++) step();
gc();
const rss0 = process.memoryUsage().rss, t0 = Date.now();
const tensorsBefore = g.memory().numTensors, buffersBefore = g.memory().native.cpu.buffers;
for (let i = 0; i < ${STEPS}; i++) step();
gc();
const mb = (b) => b / 2 ** 20;
console.log(JSON.stringify({ growthMB: mb(process.memoryUsage().rss - rss0), rssStartMB: mb(rss0), msPerStep: (Date.now() - t0) / ${STEPS},
  tensorsBefore, tensorsAfter: g.memory().numTensors, buffersBefore, buffersAfter: g.memory().native.cpu.buffers }));`;
  // A 1 MB young generation: V8 otherwise resizes its semi-spaces by tens of MB between samples
  // (measured: RSS 116-141 MB back and forth over a flat loop), which is noise, not a leak; native
  // memory, what this test is about, is unaffected.
  const r = spawnSync(process.execPath, ['--expose-gc', '--max-semi-space-size=1', '--import', 'tsx', '-e', code], {
    cwd: root,
    env: { ...process.env, CUDNN_GRU_DEVICE: 'cpu' },
    encoding: 'utf8',
    timeout: 100000,
  });
  assert.equal(r.status, 0, `the loop process failed (signal ${r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as LoopReport;
}

function assertFlat(what: string, r: LoopReport): void {
  const figures = `${what}: RSS ${r.rssStartMB.toFixed(0)} MB after warm-up, ${r.growthMB >= 0 ? '+' : ''}${r.growthMB.toFixed(1)} MB over ${STEPS} steps (${r.msPerStep.toFixed(2)} ms/step)`;
  assert.equal(r.tensorsAfter, r.tensorsBefore, `${figures}: live tensors`);
  assert.equal(r.buffersAfter, r.buffersBefore, `${figures}: native buffers`);
  assert.ok(r.growthMB < LIMIT_MB, `${figures}; the limit is ${LIMIT_MB} MB`);
}

describe('RSS of synchronous loops', function () {
  this.timeout(120000);

  it(`a ${STEPS}-step synchronous trainOnBatch loop grows RSS by less than ${LIMIT_MB} MB`, () => {
    const report = measureLoop(
      `const model = g.sequential([g.layers.gru({ units: 8, inputShape: [4, 2] }), g.layers.dense({ units: 1 })]);
       model.compile({ optimizer: 'adam', loss: 'meanSquaredError' });`,
      'model.trainOnBatch(x, y);',
    );
    assertFlat('trainOnBatch', report);
  });

  it(`a ${STEPS}-step synchronous tidy(ops.gru forward + backward) loop grows RSS by less than ${LIMIT_MB} MB`, () => {
    // Two bidirectional layers: 21 handles a step (outputs, state, 16 parameter gradients).
    const report = measureLoop(
      `const shapes = g.ops.gruParamShapes(2, 4, 2, true);
       const params = Object.fromEntries(Object.entries(shapes).map(([name, shape]) =>
         [name, g.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i) / 4), shape)]));`,
      'g.tidy(() => { const r = g.ops.gru(x, params, { numLayers: 2, bidirectional: true, training: true }); r.backward(r.output, null); });',
    );
    assertFlat('tidy(ops.gru)', report);
  });
});
