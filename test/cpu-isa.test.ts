// Every CPU kernel path this machine has (CUDNN_GRU_CPU_ISA = generic, avx2, avx512, as far as the
// CPU supports them), each in its own process: what backendInfo reports, agreement with the
// generic path on every cell (forward and backward, partial panels, ragged lengths), the PyTorch
// fixture and kernel suites passing unchanged under each, and clear errors for bad values.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { backendInfo } from '../lib';
import { assertClose } from './support/recurrent';

const ISAS = ['generic', 'avx2', 'avx512'] as const;
type IsaName = (typeof ISAS)[number];
const detected = backendInfo().cpu.isaDetected;
const available = ISAS.slice(0, ISAS.indexOf(detected) + 1);
const root = path.join(__dirname, '..');

function runChild(args: string[], env: Record<string, string | undefined>) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  return spawnSync(process.execPath, ['-r', require.resolve('tsx/cjs'), ...args], { cwd: root, env: childEnv, encoding: 'utf8', maxBuffer: 64 << 20 });
}

interface ChildReport {
  cpu: ReturnType<typeof backendInfo>['cpu'];
  results: Record<string, Record<string, number[]>>;
}

function report(isa: IsaName, env: Record<string, string | undefined> = {}): ChildReport {
  const r = runChild([path.join(__dirname, 'support', 'cpu-isa-child.ts')], { CUDNN_GRU_CPU_ISA: isa, ...env });
  assert.equal(r.status, 0, `child under CUDNN_GRU_CPU_ISA=${isa} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as ChildReport;
}

describe(`CPU ISA dispatch (this CPU: ${detected}; features ${backendInfo().cpu.features.join(' ') || 'none'})`, () => {
  const reports: Partial<Record<IsaName, ChildReport>> = {};
  before(function () {
    this.timeout(300000);
    for (const isa of available) reports[isa] = report(isa);
  });

  it('the default is the best ISA the CPU has', () => {
    assert.equal(backendInfo().cpu.isa, process.env.CUDNN_GRU_CPU_ISA || detected);
    assert.ok((ISAS as readonly string[]).includes(detected));
  });

  for (const isa of ISAS) {
    it(`${isa}: reports its kernels and agrees with the generic path on every cell`, function () {
      if (!available.includes(isa)) this.skip();
      const r = reports[isa]!;
      assert.equal(r.cpu.isa, isa);
      assert.equal(r.cpu.isaDetected, detected);
      const packed = isa === 'generic' ? 'blas' : `packed-${isa}`;
      if (process.arch === 'x64') {
        assert.equal(r.cpu.kernels.recurrentStep, packed);
        assert.equal(r.cpu.kernels.inputProjection, packed);
        assert.equal(r.cpu.kernels.backward, isa === 'generic' ? 'blas' : `${packed} step and input gradient, blas weight gradients`);
      }
      const reference = reports.generic!.results;
      assert.deepEqual(Object.keys(r.results), Object.keys(reference));
      for (const [name, values] of Object.entries(r.results)) {
        for (const [key, v] of Object.entries(values)) assertClose(v, reference[name]![key]!, 1e-5, `${isa} ${name} ${key}`);
      }
    });

    it(`${isa}: the PyTorch fixture and kernel suites pass`, function () {
      if (!available.includes(isa)) this.skip();
      this.timeout(300000);
      const suites = ['gru', 'lstm', 'rnn', 'rnn-kernels', 'training-fixtures'].map((s) => path.join('test', `${s}.test.ts`));
      const r = spawnSync(process.execPath, [require.resolve('mocha/bin/mocha.js'), '--no-config', '--require', 'tsx/cjs', '--node-option', 'expose-gc', '--reporter', 'dot', ...suites], {
        cwd: root, env: { ...process.env, CUDNN_GRU_CPU_ISA: isa }, encoding: 'utf8', maxBuffer: 64 << 20,
      });
      assert.equal(r.status, 0, `suites under CUDNN_GRU_CPU_ISA=${isa} failed:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /[1-9]\d* passing/);
    });
  }

  it('OpenBLAS runs the kernels for the ISA whatever OPENBLAS_CORETYPE says, and the variable is left as it was', function () {
    this.timeout(120000);
    if (backendInfo().cpu.blas !== 'OpenBLAS' || process.arch !== 'x64' || !available.includes('avx2')) this.skip();
    const cores: Partial<Record<IsaName, string>> = { avx2: 'Haswell', avx512: 'SkylakeX' };
    // A DYNAMIC_ARCH OpenBLAS (Debian's, the prebuilds') can switch; one built for a single CPU cannot.
    if (reports.avx2!.cpu.blasCore !== 'Haswell') this.skip();
    for (const isa of available.filter((i) => cores[i])) {
      for (const forced of ['Prescott', 'Haswell', undefined]) {
        const script = "const { backendInfo } = require('./lib'); process.stdout.write(JSON.stringify({ core: backendInfo().cpu.blasCore, env: process.env.OPENBLAS_CORETYPE ?? null }))";
        const r = runChild(['-e', script], { CUDNN_GRU_CPU_ISA: isa, OPENBLAS_CORETYPE: forced });
        assert.equal(r.status, 0, r.stderr);
        const seen = JSON.parse(r.stdout) as { core: string; env: string | null };
        assert.equal(seen.core, cores[isa], `${isa} with OPENBLAS_CORETYPE=${forced}`);
        assert.equal(seen.env, forced ?? null);
      }
    }
  });

  it('a value that is not an ISA name fails the load with the variable, the expected values and the value given', () => {
    for (const bad of ['AVX2', 'sse', 'avx-512', ' avx2']) {
      const r = runChild(['-e', "require('./lib')"], { CUDNN_GRU_CPU_ISA: bad });
      assert.notEqual(r.status, 0, bad);
      assert.ok(r.stderr.includes(`CUDNN_GRU_CPU_ISA: expected one of generic, avx2, avx512 (or unset), got '${bad}'`), r.stderr);
    }
  });

  it('an ISA the CPU lacks fails the load and says what the CPU has', function () {
    const missing = ISAS.filter((i) => !available.includes(i));
    if (!missing.length) this.skip();
    for (const isa of missing) {
      const r = runChild(['-e', "require('./lib')"], { CUDNN_GRU_CPU_ISA: isa });
      assert.notEqual(r.status, 0, isa);
      assert.ok(r.stderr.includes(`CUDNN_GRU_CPU_ISA=${isa}: this CPU (or its OS) does not support ${isa}; the best it has is ${detected}`), r.stderr);
    }
  });
});
