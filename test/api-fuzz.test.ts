// The public API under seeded garbage (issue #12): every entry point (tensor creation, Tensor
// methods, every ops.* and io.* function, layers, losses, optimizers, callbacks, models) is called
// thousands of times with garbage mixed with plausible values, in a child process so that a crash
// or abort fails the test instead of the suite. Each call must succeed or throw an Error that names
// the function (or its module) or the argument: never a raw `x.handle is not a function`.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { tempDir } from './support/temp-dir';

const CHILD = path.join(__dirname, 'support', 'api-fuzz-child.ts');
const SEED = 20261212;
const CALLS_PER_ENTRY = 150;


interface Report {
  calls: number;
  errors: number;
  raw: Record<string, string[]>;
}

function runFuzz(): Promise<{ report: Report | null; code: number | null; signal: string | null; lastCalls: string }> {
  const child = spawn(process.execPath, ['--max-old-space-size=2048', '-r', require.resolve('tsx/cjs'), CHILD, String(SEED), String(CALLS_PER_ENTRY)], {
    cwd: tempDir('cdcgru-fuzz-'), // garbage path strings create files here
    // A relative CUDNN_GRU_ADDON (as .ci/run sets it) must still name the same binary from there.
    env: { ...process.env, ...(process.env.CUDNN_GRU_ADDON ? { CUDNN_GRU_ADDON: path.resolve(process.env.CUDNN_GRU_ADDON) } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      const last = out.trim().split('\n').pop() ?? '';
      let report: Report | null = null;
      try {
        report = JSON.parse(last);
      } catch {
        // no report: the child crashed
      }
      resolve({ report, code, signal, lastCalls: err.split('\n').slice(-6).join('\n') });
    });
  });
}

describe('public API under seeded garbage (child process)', function () {
  this.timeout(180000);

  it('every call succeeds or throws an Error naming the function or the argument; nothing crashes', async () => {
    const started = Date.now();
    const { report, code, signal, lastCalls } = await runFuzz();
    assert.ok(report && code === 0, `the fuzz process died (${signal ?? `exit ${code}`}); its last calls:\n${lastCalls}`);
    assert.ok(report.calls > 10_000 && report.errors > 5_000, `too few calls or errors: ${JSON.stringify({ calls: report.calls, errors: report.errors })}`);
    assert.deepEqual(report.raw, {}, 'raw errors that name neither the function nor an argument');
    assert.ok(Date.now() - started < 90_000, `the fuzz took ${Date.now() - started} ms; keep it within a minute`);
  });
});
