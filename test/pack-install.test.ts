// The published package, as a user gets it: `npm pack`, then install that tarball into an empty
// project with the network off (only npm's cache), and use it.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..');

/** Runs `cmd` with no network when this user can make a network namespace; says which. */
function offline(cmd: string[], cwd: string): { status: number | null; output: string; isolated: boolean } {
  const isolated = spawnSync('unshare', ['-n', 'true']).status === 0;
  const argv = isolated ? ['unshare', '-n', ...cmd] : cmd;
  const r = spawnSync(argv[0], argv.slice(1), { cwd, encoding: 'utf8', env: { ...process.env, npm_config_offline: 'true' } });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}`, isolated };
}

describe('npm pack and an offline install of the tarball', function () {
  this.timeout(600000);
  let work: string;
  let tarball: string;

  before(function () {
    // A run against an explicit build variant tests that binary, not the package.
    if (process.env.CUDNN_GRU_ADDON) this.skip();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'cudnn-gru-pack-'));
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const info = JSON.parse(out.slice(out.indexOf('[')))[0];
    tarball = path.join(work, info.filename);
    const files: string[] = info.files.map((f: { path: string }) => f.path);
    assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts') && files.includes('binding.d.ts'));
    assert.ok(files.includes('CMakeLists.txt') && files.some((f) => f.startsWith('native/cpu/')));
    assert.ok(!files.some((f) => /^(test|bench|build|examples)\//.test(f) || f.startsWith('.deps/')), `unexpected files: ${files.join(', ')}`);
  });

  after(() => work && fs.rmSync(work, { recursive: true, force: true }));

  it('installs without the network and answers backendInfo()', () => {
    const project = path.join(work, 'app');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const install = offline(['npm', 'install', '--offline', '--no-audit', '--no-fund', tarball], project);
    assert.equal(install.status, 0, `npm install failed (network isolated: ${install.isolated}):\n${install.output}`);
    const run = spawnSync(process.execPath, ['-e', "const g = require('cudnn-gru'); const t = g.tensor([1, 2, 3]); console.log(JSON.stringify({ info: g.backendInfo(), sum: Array.from(t.dataSync()).reduce((a, b) => a + b) }))"], { cwd: project, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const { info, sum } = JSON.parse(run.stdout);
    assert.equal(sum, 6);
    assert.equal(info.device, 'cpu');
    assert.ok(info.cpu.blas.length > 0);
    assert.equal(typeof info.cuda.reason, 'string');
  });
});
