import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { backendInfo, getDevice, getNumThreads, setAllowTF32, setDevice, setNumThreads, zeros } from '../lib';
import { cudaInfo } from './support/devices';

const root = path.join(__dirname, '..');

/** Runs a snippet in a fresh Node process with the given environment. */
function runNode(code: string, env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('backendInfo and device selection', () => {
  it('describes the CPU engine and BLAS', () => {
    const info = backendInfo();
    assert.ok(info.cpu.blas.length > 0);
    assert.ok(info.cpu.threads >= 1);
    assert.equal(info.requested, process.env.CUDNN_GRU_DEVICE || 'auto');
    if (process.env.CUDNN_GRU_EXPECT_BLAS) assert.equal(info.cpu.blas, process.env.CUDNN_GRU_EXPECT_BLAS);
    if (info.cpu.blasIsBuiltin) assert.match(info.cpu.warning ?? '', /slow portable fallback/);
  });

  it('reports CUDA precisely: available with versions, or why not', () => {
    const { cuda } = backendInfo();
    if (process.env.CUDNN_GRU_EXPECT_CUDA_BUILD === '1') assert.equal(cuda.compiled, true, 'this run expects the CUDA variant');
    if (cuda.available) {
      assert.ok(cuda.deviceName && cuda.computeCapability && cuda.cudnnVersion && cuda.cublasVersion);
      assert.ok(cuda.cudnnPath && cuda.cublasPath);
    } else {
      assert.ok(cuda.reason && cuda.reason.length > 10, 'a reason is given');
      if (cuda.compiled) {
        assert.ok(Array.isArray(cuda.searchedPaths), 'the paths tried are listed');
      } else {
        assert.match(cuda.reason!, /built without CUDA/);
      }
    }
  });

  it("falls back to the CPU under 'auto' and refuses 'cuda' when CUDA cannot work", function () {
    if (cudaInfo.available) {
      const info = backendInfo();
      assert.equal(getDevice(), info.autoUsesCuda ? 'cuda' : 'cpu');
      if (!info.autoUsesCuda) assert.match(info.note ?? '', /'auto' does not use it yet/);
      this.skip();
    }
    assert.equal(getDevice(), 'cpu');
    assert.throws(() => setDevice('cuda'), (err: Error) => err.message.includes("setDevice: device 'cuda' requested, but CUDA is not available: ") && err.message.includes(cudaInfo.reason!));
    assert.equal(setDevice('auto'), 'cpu');
    assert.throws(() => zeros([1], 'float32', { device: 'cuda' }), /CUDA is not available/);
  });

  it('validates setDevice and the environment variable', function () {
    assert.throws(() => setDevice('gpu' as 'cuda'), /setDevice: argument 'device' must be one of 'auto', 'cpu', 'cuda', got the string 'gpu'/);
    assert.equal(setDevice('cpu'), 'cpu');
    assert.equal(zeros([1]).device, 'cpu');
    setDevice('auto');
    this.timeout(60000);
    const bad = runNode("const g=require('./lib'); try { g.zeros([1]) } catch (e) { console.log(e.message) }", { CUDNN_GRU_DEVICE: 'tpu' });
    assert.match(bad.stdout, /CUDNN_GRU_DEVICE must be one of 'auto', 'cpu', 'cuda', got 'tpu'/);
    const cuda = runNode("const g=require('./lib'); console.log(JSON.stringify(g.backendInfo())); try { console.log('device', g.zeros([1]).device) } catch (e) { console.log('ERR', e.message) }", { CUDNN_GRU_DEVICE: 'cuda' });
    assert.equal(cuda.status, 0, cuda.stderr);
    if (cudaInfo.available) {
      assert.match(cuda.stdout, /device cuda/);
    } else {
      assert.match(cuda.stdout, /ERR cudnn-gru: device 'cuda' requested by CUDNN_GRU_DEVICE=cuda, but CUDA is not available/);
      const info = JSON.parse(cuda.stdout.split('\n')[0]);
      assert.equal(info.device, null);
      assert.match(info.error, /CUDA is not available/);
    }
    const cpu = runNode("const g=require('./lib'); console.log(g.zeros([1]).device, g.backendInfo().requestedBy)", { CUDNN_GRU_DEVICE: 'cpu' });
    assert.match(cpu.stdout, /^cpu CUDNN_GRU_DEVICE=cpu/);
  });

  it('sets CPU and BLAS threads together', () => {
    const before = getNumThreads();
    setNumThreads(1);
    assert.equal(getNumThreads(), 1);
    const info = backendInfo().cpu;
    assert.equal(info.threads, 1);
    if (!info.blasIsBuiltin && info.blas !== 'Accelerate') assert.equal(info.blasThreads, 1);
    assert.throws(() => setNumThreads(0), /setNumThreads: argument 'numThreads' must be an integer in \[1, 1024\], got the number 0/);
    setNumThreads(before);
  });

  it('switches TF32 only where CUDA works, and checks its argument', () => {
    assert.equal(backendInfo().cuda.allowTF32, false, 'off by default');
    setAllowTF32(true);
    assert.equal(backendInfo().cuda.allowTF32, cudaInfo.available, cudaInfo.available ? 'on once asked' : 'no CUDA: stays off');
    setAllowTF32(false);
    assert.equal(backendInfo().cuda.allowTF32, false);
    assert.throws(() => setAllowTF32(1 as unknown as boolean), /setAllowTF32: argument 'allow' must be a boolean, got number 1/);
  });
});
