// The package as users get it: `npm pack`, then install the tarball into an empty project with
// the network off, (1) with the prebuilt binary and no compiler on PATH, and (2) without
// prebuilds, building from source. npm takes the dependencies from a cache that the test fills
// first, online, by installing the same tarball with scripts off: what npm itself fetches comes
// from the registry, but the install (our script, cmake-js) must need no network at all.
// The installs run as on a new machine: an empty HOME (no ~/.npmrc, no ~/.cmake-js) and none of
// the npm settings that `npm test` passes down, except those that say how to reach the registry.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { skipBecause } from './support/skip';
import { tempDir } from './support/temp-dir';

const root = path.join(__dirname, '..');
const prebuildDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const hasPrebuild = fs.existsSync(prebuildDir) && fs.readdirSync(prebuildDir).some((f) => f.endsWith('.node'));
const TOOLS = ['cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'cmake', 'make', 'ninja', 'nvcc'];
// The npm settings that a user's own install needs to reach the registry.
const NETWORK_SETTINGS = ['registry', 'proxy', 'https-proxy', 'noproxy', 'cafile', 'ca', 'strict-ssl'];

/** How to run a command without network: `unshare -n` as root, else in a user namespace; null if neither works. */
const isolation = [['unshare', '-n'], ['unshare', '-r', '-n']].find((argv) => spawnSync(argv[0], [...argv.slice(1), 'true']).status === 0) ?? null;

/**
 * A new machine's environment: this one's without the npm_* variables that `npm test` passes
 * down (its cache; ~/.npmrc settings such as nodedir) and without the variables that point this
 * run at another binary or device; with an empty HOME and the given npm cache.
 */
function newMachineEnv(home: string, cache: string): NodeJS.ProcessEnv {
  const network = execFileSync('npm', ['config', 'get', ...NETWORK_SETTINGS], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== 'CUDNN_GRU_ADDON' && key !== 'CUDNN_GRU_DEVICE') env[key] = value;
  }
  for (const line of network.split('\n')) {
    const [, key, value] = /^([\w-]+)=(.*)$/.exec(line.trim()) ?? [];
    if (key && value && value !== 'null') env[`npm_config_${key.replace(/-/g, '_')}`] = value;
  }
  return { ...env, HOME: home, npm_config_cache: cache, npm_config_update_notifier: 'false' };
}

/** Runs `argv` with npm in offline mode and, where a network namespace can be made, no network. */
function offline(argv: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const full = [...(isolation ?? []), ...argv];
  const r = spawnSync(full[0], full.slice(1), { cwd, encoding: 'utf8', env: { ...env, npm_config_offline: 'true' } });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

function makeProject(parent: string, name: string): string {
  const project = path.join(parent, name);
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  return project;
}

const npmInstall = (tarball: string, ...flags: string[]) => ['npm', 'install', '--no-audit', '--no-fund', ...flags, tarball];

/** Installs `tarball` offline into a new project and checks that the package works there. */
function installAndUse(parent: string, name: string, tarball: string, env: NodeJS.ProcessEnv) {
  const project = makeProject(parent, name);
  const install = offline(npmInstall(tarball, '--offline', '--foreground-scripts'), project, env);
  assert.equal(install.status, 0, `npm install failed (network isolated: ${isolation !== null}):\n${install.output}`);
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
  let env: NodeJS.ProcessEnv = {};

  before(() => {
    work = tempDir('cudnn-gru-pack-');
    // The installed binaries and the tool traps below run from here, which a noexec TMPDIR forbids.
    const probe = path.join(work, 'exec-probe');
    fs.writeFileSync(probe, '#!/bin/sh\n', { mode: 0o755 });
    assert.equal(spawnSync(probe).status, 0, `${work} does not allow running programs (mounted noexec?): set TMPDIR to a folder that does`);
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const info = JSON.parse(out.slice(out.indexOf('[')))[0];
    tarball = path.join(work, info.filename);
    files = info.files.map((f: { path: string }) => f.path);
    fs.mkdirSync(path.join(work, 'home'));
    env = newMachineEnv(path.join(work, 'home'), path.join(work, 'npm-cache'));
    // Online with scripts off: puts the dependencies' registry metadata and tarballs into the cache.
    const [npm, ...args] = npmInstall(tarball, '--ignore-scripts');
    const fill = spawnSync(npm, args, { cwd: makeProject(work, 'fill-cache'), encoding: 'utf8', env });
    assert.equal(fill.status, 0, `filling a new npm cache with the tarball's dependencies needs the registry (${env.npm_config_registry}) once, online:\n${fill.stdout}\n${fill.stderr}`);
  });

  it('contains the compiled JS, types, native sources and prebuilds, and nothing else', () => {
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'binding.d.ts', 'CMakeLists.txt', 'package.json', 'scripts/install.js', 'scripts/build-requirements.js']) {
      assert.ok(files.includes(f), `${f} is packed`);
    }
    assert.ok(files.some((f) => f.startsWith('native/cpu/')));
    const unexpected = files.filter((f) => !/^(dist\/|native\/|prebuilds\/[^/]+\/[^/]+\.node$|binding\.d\.ts$|CMakeLists\.txt$|package\.json$|README\.md$|LICENSE$|scripts\/(install|build-requirements)\.js$)/.test(f));
    assert.deepEqual(unexpected, []);
  });

  it('offline means offline: npm with an empty cache cannot fetch, and nor can an install script', function () {
    const empty = makeProject(work, 'empty-cache');
    const npm = offline(npmInstall(tarball), empty, { ...env, npm_config_cache: path.join(work, 'empty-npm-cache') });
    assert.notEqual(npm.status, 0, `npm installed with an empty cache:\n${npm.output}`);
    assert.match(npm.output, /ENOTCACHED/);
    if (!isolation) skipBecause(this, 'no network namespace here (unshare -n and unshare -r -n both fail): npm is offline, but an install script could still reach the network unnoticed');
    const probe = `require('node:https').get(process.argv[1], (r) => { console.log('reached, HTTP ' + r.statusCode); process.exit(0); })
      .on('error', (e) => { console.log(e.code); process.exit(1); });`;
    const script = offline([process.execPath, '-e', probe, env.npm_config_registry ?? 'https://registry.npmjs.org/'], empty, env);
    assert.notEqual(script.status, 0, `a script reached the registry from the network namespace: ${script.output}`);
    assert.match(script.output, /ENETUNREACH|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|EHOSTUNREACH/);
  });

  it('with a prebuild: installs and runs with no compiler, CMake or nvcc invoked', function () {
    if (!hasPrebuild) {
      if (process.env.CUDNN_GRU_REQUIRE_PREBUILD === '1') assert.fail(`no prebuild in ${prebuildDir}: run npm run prebuilds`);
      skipBecause(this, `no prebuild in ${path.relative(root, prebuildDir)} (npm run prebuilds makes one)`);
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
    const trapped = { ...env, PATH: [traps, nodeBin, npmBin, '/bin'].join(':') };
    const bare = spawnSync('sh', ['-c', 'command -v cmake; command -v gcc'], { env: trapped, encoding: 'utf8' });
    assert.ok(bare.stdout.split('\n').filter(Boolean).every((p) => p.startsWith(traps)), `real build tools still reachable: ${bare.stdout}`);
    const { install, result } = installAndUse(work, 'with-prebuild', tarball, trapped);
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
    const { install } = installAndUse(work, 'from-source', source, env);
    assert.match(install.output, /building from source/);
  });
});
