// Issue #13's acceptance: fitDataset streams a CSV far larger than the memory it may use. A child
// process trains one epoch of a small GRU on every window of a generated CSV of at least 200 MB
// (data.csv → timeSeries → batch → prefetch), sampling its RSS throughout; the peak must stay
// within 50 MB of the RSS before the epoch, and memory() must count exactly what it did before.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './support/temp-dir';

const root = path.join(__dirname, '..');
const MIN_FILE_BYTES = 200 * 1e6;
const RSS_LIMIT_MB = 50;
const FEATURES = 8;
const WINDOW = 16;
const BATCH = 2048;

/**
 * Writes a CSV header `f0..f7,target` and `rows` rows in chunks of a few MB (a block of rows repeated,
 * so that writing takes a second, not a minute); returns its size in bytes.
 */
function writeSeries(file: string, rows: number, blockRows: number): number {
  const block: string[] = [];
  for (let t = 0; t < blockRows; t++) {
    const features = Array.from({ length: FEATURES }, (_, k) => Math.sin(t / (k + 3)).toFixed(5));
    block.push(`${features.join(',')},${Math.cos(t / 7).toFixed(5)}\n`);
  }
  const chunk = block.join('');
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, `${Array.from({ length: FEATURES }, (_, k) => `f${k}`).join(',')},target\n`);
    for (let written = 0; written < rows; written += blockRows) fs.writeSync(fd, chunk);
  } finally {
    fs.closeSync(fd);
  }
  return fs.statSync(file).size;
}

interface EpochReport {
  steps: number;
  rssBeforeMB: number;
  peakGrowthMB: number;
  endGrowthMB: number;
  samplesOfRss: number;
  seconds: number;
  before: { numTensors: number; numDataBuffers: number; numResources: number; numBytes: number };
  after: { numTensors: number; numDataBuffers: number; numResources: number; numBytes: number };
  loss: number;
}

/** Trains a warm-up of 20 batches, then one full epoch over the file, in a fresh process. */
function trainOneEpoch(file: string): EpochReport {
  const code = `const g = require('./lib');
const file = ${JSON.stringify(file)};
const mb = (b) => b / 2 ** 20;
const counts = () => { const m = g.memory(); return { numTensors: m.numTensors, numDataBuffers: m.numDataBuffers, numResources: m.numResources, numBytes: m.numBytes }; };
(async () => {
  g.setSeed(1);
  const model = g.sequential([g.layers.gru({ units: 8, inputShape: [${WINDOW}, ${FEATURES}] }), g.layers.dense({ units: 1 })]);
  model.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
  const rows = g.data.csv(file, { labelColumns: ['target'] });
  const batches = g.data.timeSeries(rows, { window: ${WINDOW}, shift: ${WINDOW} }).batch(${BATCH}).prefetch(2);
  await model.fitDataset(batches, { epochs: 1, batchesPerEpoch: 20, verbose: 0 }); // builds the model and the optimizer state
  gc();
  const before = counts();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0, samples = 0;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); samples++; }, 20);
  const t0 = Date.now();
  const history = await model.fitDataset(batches, { epochs: 1, verbose: 0 });
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const seconds = (Date.now() - t0) / 1000;
  gc();
  console.log(JSON.stringify({ steps: history.params.steps, rssBeforeMB: mb(rss0), peakGrowthMB: mb(peak - rss0), endGrowthMB: mb(process.memoryUsage().rss - rss0),
    samplesOfRss: samples, seconds, before, after: counts(), loss: history.history.loss[0] }));
  model.dispose();
})().catch((err) => { console.error(err); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-r', require.resolve('tsx/cjs'), '-e', code], {
    cwd: root,
    env: { ...process.env, CUDNN_GRU_DEVICE: 'cpu' },
    encoding: 'utf8',
    timeout: 170_000,
  });
  assert.equal(r.status, 0, `the training process failed (signal ${r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as EpochReport;
}

describe('fitDataset streams a CSV larger than its memory (issue #13)', function () {
  this.timeout(240_000);

  it(`one epoch over a ≥ 200 MB CSV: every window trained on, RSS within ${RSS_LIMIT_MB} MB, exact memory() counts`, () => {
    const file = path.join(tempDir('cdcgru-large-csv-'), 'series.csv');
    const blockRows = 40_000;
    const rows = 2_640_000; // about 76.5 bytes a row: 202 MB
    const bytes = writeSeries(file, rows, blockRows);
    assert.ok(bytes >= MIN_FILE_BYTES, `the file has ${bytes} bytes`);
    try {
      const r = trainOneEpoch(file);
      const samples = Math.floor((rows - WINDOW - 1) / WINDOW) + 1; // windows of WINDOW rows + the target row, every WINDOW rows
      const figures = `${(bytes / 1e6).toFixed(0)} MB file, ${r.steps} batches in ${r.seconds.toFixed(1)} s; RSS ${r.rssBeforeMB.toFixed(0)} MB before the epoch, peak +${r.peakGrowthMB.toFixed(1)} MB (${r.samplesOfRss} samples), end ${r.endGrowthMB >= 0 ? '+' : ''}${r.endGrowthMB.toFixed(1)} MB`;
      assert.equal(r.steps, Math.ceil(samples / BATCH), `${figures}: the whole file streamed`);
      assert.ok(r.samplesOfRss >= 10, `${figures}: too few RSS samples`);
      assert.ok(r.peakGrowthMB < RSS_LIMIT_MB, `${figures}; the limit is ${RSS_LIMIT_MB} MB`);
      assert.deepEqual(r.after, r.before, `${figures}: memory() after the epoch`);
      assert.ok(Number.isFinite(r.loss), `${figures}: loss ${r.loss}`);
      console.log(`      ${figures}`);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
