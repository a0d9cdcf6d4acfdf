// The package as users get it: `npm pack`, then install the tarball into an empty project with
// the network off (npm's cache only), (1) with the prebuilt binary and no compiler on PATH, and
// (2) without prebuilds, building from source.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
const prebuildDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const hasPrebuild = fs.existsSync(prebuildDir) && fs.readdirSync(prebuildDir).some((f) => f.endsWith('.node'));
const TOOLS = ['cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'cmake', 'make', 'ninja', 'nvcc'];

/** Runs `argv` with no network when a network namespace can be made (root here); says which. */
function offline(argv: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  const isolated = spawnSync('unshare', ['-n', 'true']).status === 0;
  const full = isolated ? ['unshare', '-n', ...argv] : argv;
  const r = spawnSync(full[0], full.slice(1), { cwd, encoding: 'utf8', env: { ...env, npm_config_offline: 'true' } });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}`, isolated };
}

function makeProject(parent: string, name: string): string {
  const project = path.join(parent, name);
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  return project;
}

/** Installs `tarball` into a new project and checks that the package works there. */
function installAndUse(parent: string, name: string, tarball: string, baseEnv: NodeJS.ProcessEnv = process.env) {
  // The installed package must load its own binary, whatever this run was pointed at.
  const { CUDNN_GRU_ADDON: _addon, CUDNN_GRU_DEVICE: _device, ...env } = baseEnv;
  const project = makeProject(parent, name);
  const install = offline(['npm', 'install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', tarball], project, env);
  assert.equal(install.status, 0, `npm install failed (network isolated: ${install.isolated}):\n${install.output}`);
  const script = `
    const g = require('cudnn-gru');
    const t = g.tensor([1, 2, 3]);
    console.log(JSON.stringify({ info: g.backendInfo(), sum: Array.from(t.dataSync()).reduce((a, b) => a + b) }));`;
  const run = spawnSync(process.execPath, ['-e', script], { cwd: project, encoding: 'utf8', env });
  assert.equal(run.status, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  assert.equal(result.sum, 6);
  assert.equal(result.info.device, 'cpu');
  assert.equal(typeof result.info.cuda.reason, 'string', 'backendInfo says why CUDA is not in use');
  return { install, result, project };
}

describe('installing the npm tarball offline', function () {
  this.timeout(900000);
  let work = '';
  let tarball = '';
  let files: string[] = [];

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'cudnn-gru-pack-'));
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const info = JSON.parse(out.slice(out.indexOf('[')))[0];
    tarball = path.join(work, info.filename);
    files = info.files.map((f: { path: string }) => f.path);
  });

  after(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('contains the compiled JS, types, native sources and prebuilds, and nothing else', () => {
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'binding.d.ts', 'CMakeLists.txt', 'package.json', 'scripts/install.js', 'scripts/build-requirements.js']) {
      assert.ok(files.includes(f), `${f} is packed`);
    }
    assert.ok(files.some((f) => f.startsWith('native/cpu/')));
    const unexpected = files.filter((f) => !/^(dist\/|native\/|prebuilds\/[^/]+\/[^/]+\.node$|binding\.d\.ts$|CMakeLists\.txt$|package\.json$|README\.md$|LICENSE$|scripts\/(install|build-requirements)\.js$)/.test(f));
    assert.deepEqual(unexpected, []);
  });

  it('with a prebuild: installs and runs with no compiler, CMake or nvcc invoked', function () {
    if (!hasPrebuild) {
      if (process.env.CUDNN_GRU_REQUIRE_PREBUILD === '1') assert.fail(`no prebuild in ${prebuildDir}: run npm run prebuilds`);
      this.skip();
    }
    // Every build tool on PATH is a trap that leaves a mark; the real ones are not reachable.
    const traps = path.join(work, 'traps');
    const marks = path.join(work, 'tool-invocations.log');
    fs.mkdirSync(traps);
    for (const tool of TOOLS) {
      fs.writeFileSync(path.join(traps, tool), `#!/bin/sh\necho "${tool} $*" >> '${marks}'\nexit 1\n`, { mode: 0o755 });
    }
    const nodeBin = path.dirname(process.execPath);
    const npmBin = path.dirname(fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()));
    const env = { ...process.env, PATH: [traps, nodeBin, npmBin, '/bin'].join(':') };
    const bare = spawnSync('sh', ['-c', 'command -v cmake; command -v gcc'], { env, encoding: 'utf8' });
    assert.ok(bare.stdout.split('\n').filter(Boolean).every((p) => p.startsWith(traps)), `real build tools still reachable: ${bare.stdout}`);
    const { install, result } = installAndUse(work, 'with-prebuild', tarball, env);
    assert.ok(!fs.existsSync(marks), `build tools were invoked:\n${fs.existsSync(marks) ? fs.readFileSync(marks, 'utf8') : ''}`);
    assert.match(install.output, /using an existing binary/);
    assert.equal(result.info.cpu.blas, 'OpenBLAS');
  });

  it('without prebuilds: builds from source and runs', () => {
    let source = tarball;
    if (files.some((f) => f.startsWith('prebuilds/'))) {
      const unpacked = path.join(work, 'unpacked');
      fs.mkdirSync(unpacked);
      execFileSync('tar', ['-xzf', tarball, '-C', unpacked]);
      fs.rmSync(path.join(unpacked, 'package', 'prebuilds'), { recursive: true, force: true });
      source = path.join(work, 'cudnn-gru-source-only.tgz');
      execFileSync('tar', ['-czf', source, '-C', unpacked, 'package']);
    }
    const { install } = installAndUse(work, 'from-source', source);
    assert.match(install.output, /building from source/);
  });
});
