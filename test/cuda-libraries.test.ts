// The CUDA variant's library loader, with stand-in cuDNN and cuBLAS libraries built here (no GPU
// needed): cuBLAS of the major cuDNN was built for is preferred, and a mismatch is a reason.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backendInfo } from '../lib';
import { tempDir } from './support/temp-dir';

const root = path.join(__dirname, '..');

/** The names of a function table in native/cuda/libraries.h (CGRU_CUDNN_FUNCTIONS, CGRU_CUBLAS_FUNCTIONS). */
function tableNames(table: string): string[] {
  const header = fs.readFileSync(path.join(root, 'native/cuda/libraries.h'), 'utf8');
  const start = header.indexOf(`#define ${table}(X)`);
  const body = header.slice(start, header.indexOf('\n\n', start));
  return [...body.matchAll(/X\((\w+)\)/g)].map((m) => m[1]!);
}

/** Builds a shared library `file` (with that soname) exporting `names` as stubs, plus `extra` C. */
function buildStub(dir: string, file: string, names: string[], extra: Record<string, string>): void {
  const source = names.map((n) => extra[n] ?? `int ${n}(void) { return 0; }`).join('\n');
  const c = path.join(dir, `${file}.c`);
  fs.writeFileSync(c, `#include <stddef.h>\n${source}\n`);
  const r = spawnSync('cc', ['-shared', '-fPIC', '-o', path.join(dir, file), `-Wl,-soname,${file}`, c], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

function cudnnStub(dir: string, cudartVersion: number): string {
  fs.mkdirSync(dir, { recursive: true });
  buildStub(dir, 'libcudnn.so.9', tableNames('CGRU_CUDNN_FUNCTIONS'), {
    cudnnGetVersion: 'size_t cudnnGetVersion(void) { return 92400; }',
    cudnnGetCudartVersion: `size_t cudnnGetCudartVersion(void) { return ${cudartVersion}; }`,
    cudnnGetErrorString: 'const char* cudnnGetErrorString(int s) { return "stub"; }',
  });
  for (const sub of ['libcudnn_graph.so.9', 'libcudnn_ops.so.9', 'libcudnn_adv.so.9']) buildStub(dir, sub, [], {});
  return dir;
}

function cublasStub(dir: string, major: number): void {
  fs.mkdirSync(dir, { recursive: true });
  buildStub(dir, `libcublas.so.${major}`, tableNames('CGRU_CUBLAS_FUNCTIONS'), {
    // MAJOR_VERSION is 0 in libraryPropertyType.
    cublasGetProperty: `int cublasGetProperty(int type, int* value) { *value = type == 0 ? ${major} : 0; return 0; }`,
  });
}

/** backendInfo().cuda of a fresh process that loads the libraries from these folders. */
function cudaInfoWith(cudnnPath: string, cublasPath: string): { reason?: string; cublasPath?: string; cublasVersion?: number; cudnnPath?: string } {
  const r = spawnSync(process.execPath, ['-e', `console.log(JSON.stringify(require(require('node:path').resolve(process.env.CUDNN_GRU_ADDON)).backendInfo().cuda))`], {
    cwd: root,
    env: { ...process.env, CUDNN_GRU_CUDNN_PATH: cudnnPath, CUDNN_GRU_CUBLAS_PATH: cublasPath },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('CUDA library loading (stand-in libraries)', function () {
  this.timeout(60000);
  let dir = '';

  before(function () {
    if (!backendInfo().cuda.compiled || !process.env.CUDNN_GRU_ADDON) this.skip(); // the CUDA variant only
    if (spawnSync('cc', ['--version']).status !== 0) this.skip(); // needs a C compiler for the stand-ins
    dir = tempDir('cgru-cuda-libs-');
    cublasStub(path.join(dir, 'both'), 12);
    cublasStub(path.join(dir, 'both'), 13);
    cublasStub(path.join(dir, 'only13'), 13);
  });

  it('loads the cuBLAS major that cuDNN was built for, whichever is searched first', () => {
    const forCuda12 = cudaInfoWith(cudnnStub(path.join(dir, 'cudnn12'), 12080), path.join(dir, 'both'));
    assert.equal(forCuda12.cublasPath, path.join(dir, 'both', 'libcublas.so.12'));
    assert.equal(forCuda12.cublasVersion, 120000);
    assert.doesNotMatch(forCuda12.reason ?? '', /cuBLAS found is version/);
    const forCuda13 = cudaInfoWith(cudnnStub(path.join(dir, 'cudnn13'), 13030), path.join(dir, 'both'));
    assert.equal(forCuda13.cublasPath, path.join(dir, 'both', 'libcublas.so.13'));
  });

  it('reports a cuBLAS of another major than cuDNN needs in backendInfo().cuda.reason', () => {
    const info = cudaInfoWith(cudnnStub(path.join(dir, 'cudnn12'), 12080), path.join(dir, 'only13'));
    assert.equal(info.cublasPath, path.join(dir, 'only13', 'libcublas.so.13'));
    assert.match(
      info.reason ?? '',
      /cuDNN 92400 \(.*libcudnn\.so\.9\) was built for CUDA 12 and loads libcublasLt\.so\.12, but the cuBLAS found is version 13 \(.*only13\/libcublas\.so\.13\): install cuBLAS 12 or point CUDNN_GRU_CUBLAS_PATH at it/,
    );
    const forCuda11 = cudaInfoWith(cudnnStub(path.join(dir, 'cudnn11'), 11080), path.join(dir, 'both'));
    assert.match(forCuda11.reason ?? '', /was built for CUDA 11 and loads libcublasLt\.so\.11, but the cuBLAS found is version 13 .*: install cuDNN 9 for CUDA 13 or 12/);
  });
});
