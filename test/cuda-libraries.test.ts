// The CUDA variant's library loader, with stand-in cuDNN and cuBLAS libraries built here (no GPU
// needed): cuBLAS of the major cuDNN was built for is preferred, and a mismatch is a reason. Then
// the engine's weight-space map, compiled into a host harness against a stand-in cuDNN.
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

/** Builds a shared library `file` (with that soname) exporting `names` as stubs (or as `extra` gives them), plus the C of `more`. */
function buildStub(dir: string, file: string, names: string[], extra: Record<string, string>, more = ''): void {
  const source = names.map((n) => extra[n] ?? `int ${n}(void) { return 0; }`).join('\n');
  const c = path.join(dir, `${file}.c`);
  fs.writeFileSync(c, `#include <stddef.h>\n${source}\n${more}\n`);
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

// A stand-in cuDNN whose weight space puts the pseudo-layers and linLayerIDs in reverse order,
// each bias before its matrix, one float of padding after every tensor: the engine must follow
// the addresses cudnnGetRNNWeightParams reports, not an order of its own. CGRU_STANDIN_BAD_SHAPE
// "slot:id" reports that matrix one row short.
const WEIGHT_STANDIN = `
#include <stdlib.h>
typedef struct { int cell, dir, inputSize, hidden, layers; } Rnn;
typedef struct { int nb, dims[3]; } Desc;
static int gates(const Rnn* r) { return r->cell == 3 ? 3 : r->cell == 2 ? 4 : 1; }
static int dirs(const Rnn* r) { return r->dir == 1 ? 2 : 1; }
static long inputOf(const Rnn* r, int slot, int id) {
  return id >= gates(r) ? r->hidden : slot / dirs(r) == 0 ? r->inputSize : dirs(r) * r->hidden;
}
/* Floats before (slot, id)'s bias; its matrix follows the bias and one float of padding. */
static long offsetOf(const Rnn* r, int slot, int id) {
  long at = 0;
  for (int s = r->layers * dirs(r) - 1; s >= 0; --s)
    for (int i = 2 * gates(r) - 1; i >= 0; --i) {
      if (s == slot && i == id) return at;
      at += r->hidden + 1 + r->hidden * inputOf(r, s, i) + 1;
    }
  return at;
}
int cudnnCreateRNNDescriptor(Rnn** d) { *d = calloc(1, sizeof(Rnn)); return 0; }
int cudnnDestroyRNNDescriptor(Rnn* d) { free(d); return 0; }
int cudnnSetRNNDescriptor_v8(Rnn* d, int algo, int cell, int bias, int dir, int inputMode, int type, int prec, int math,
                             int inputSize, int hidden, int proj, int layers, void* dropout, unsigned flags) {
  d->cell = cell; d->dir = dir; d->inputSize = inputSize; d->hidden = hidden; d->layers = layers; return 0;
}
int cudnnGetRNNWeightSpaceSize(void* h, Rnn* d, size_t* bytes) { *bytes = 4 * offsetOf(d, -1, -1); return 0; }
int cudnnCreateTensorDescriptor(Desc** d) { *d = calloc(1, sizeof(Desc)); return 0; }
int cudnnDestroyTensorDescriptor(Desc* d) { free(d); return 0; }
int cudnnGetTensorNdDescriptor(Desc* d, int want, int* type, int* nb, int* dims, int* strides) {
  *type = 0; *nb = d->nb;
  for (int i = 0; i < d->nb && i < want; ++i) dims[i] = d->dims[i];
  return 0;
}
int cudnnGetRNNWeightParams(void* h, Rnn* r, int slot, size_t bytes, void* space, int id, Desc* m, void** mAddr,
                            Desc* b, void** bAddr) {
  if (slot < 0 || slot >= r->layers * dirs(r) || id < 0 || id >= 2 * gates(r)) return 2000; /* BAD_PARAM */
  float* at = (float*)space + offsetOf(r, slot, id);
  const char* bad = getenv("CGRU_STANDIN_BAD_SHAPE");
  int badSlot = -1, badId = -1;
  if (bad) { badSlot = atoi(bad); while (*bad && *bad != ':') ++bad; if (*bad) badId = atoi(bad + 1); }
  *bAddr = at;
  b->nb = 3; b->dims[0] = 1; b->dims[1] = r->hidden; b->dims[2] = 1;
  *mAddr = at + r->hidden + 1;
  m->nb = 3; m->dims[0] = 1; m->dims[1] = r->hidden - (slot == badSlot && id == badId); m->dims[2] = (int)inputOf(r, slot, id);
  return 0;
}
`;
const WEIGHT_STANDIN_FUNCTIONS = ['cudnnCreateRNNDescriptor', 'cudnnDestroyRNNDescriptor', 'cudnnSetRNNDescriptor_v8', 'cudnnGetRNNWeightSpaceSize',
  'cudnnCreateTensorDescriptor', 'cudnnDestroyTensorDescriptor', 'cudnnGetTensorNdDescriptor', 'cudnnGetRNNWeightParams'];

/** The first folder of `candidates` holding `file`, or undefined. */
function findDir(candidates: (string | undefined)[], file: string): string | undefined {
  return candidates.find((d) => d && fs.existsSync(path.join(d, file)));
}

describe('cuDNN weight-space map (native/cuda/weight_map.cpp on the host, stand-in cuDNN)', function () {
  this.timeout(240000);
  let dir = '';
  let harness = '';

  before(function () {
    // Needs what the CUDA variant builds with: a C++ compiler and the CUDA, cuDNN and cuBLAS headers.
    const deps = path.join(root, '.deps/nvidia');
    const cudnnInclude = findDir([process.env.CUDNN_ROOT && path.join(process.env.CUDNN_ROOT, 'include'), path.join(deps, 'cudnn/include'), '/usr/include'], 'cudnn_adv.h');
    const cublasInclude = findDir([process.env.CUBLAS_ROOT && path.join(process.env.CUBLAS_ROOT, 'include'), path.join(deps, 'cu13/include'), '/usr/local/cuda/include'], 'cublas_v2.h');
    const cudaHome = findDir([process.env.CUDA_HOME, '/usr/local/cuda'], 'lib64/libcudart_static.a');
    const missing = [!cudnnInclude && 'cuDNN headers', !cublasInclude && 'cuBLAS headers', !cudaHome && 'the CUDA toolkit',
      spawnSync('c++', ['--version']).status !== 0 && 'a C++ compiler'].filter(Boolean);
    if (missing.length) {
      console.log(`    (skipped: needs ${missing.join(', ')}, as the CUDA variant's build does; see scripts/fetch-cuda-headers.sh)`);
      this.skip();
    }
    dir = tempDir('cgru-weight-map-');
    buildStub(dir, 'libcudnn.so.9', tableNames('CGRU_CUDNN_FUNCTIONS').filter((n) => !WEIGHT_STANDIN_FUNCTIONS.includes(n)), {
      cudnnGetVersion: 'size_t cudnnGetVersion(void) { return 92400; }',
      cudnnGetCudartVersion: 'size_t cudnnGetCudartVersion(void) { return 13000; }',
      cudnnGetErrorString: 'const char* cudnnGetErrorString(int s) { return "CUDNN_STATUS_STANDIN"; }',
      cudnnGetLastErrorString: 'void cudnnGetLastErrorString(char* m, size_t n) { if (n) m[0] = 0; }',
    }, WEIGHT_STANDIN);
    for (const sub of ['libcudnn_graph.so.9', 'libcudnn_ops.so.9', 'libcudnn_adv.so.9']) buildStub(dir, sub, [], {});
    harness = path.join(dir, 'harness');
    const sources = ['test/support/cuda-weight-map-harness.cpp', 'native/cuda/weight_map.cpp', 'native/cuda/libraries.cpp',
      'native/cuda/check.cpp', 'native/core/gru_checks.cpp'].map((f) => path.join(root, f));
    const r = spawnSync('c++', ['-std=c++17', '-O1', '-Wall', '-Werror', `-I${path.join(root, 'native')}`, `-I${cudnnInclude}`, `-I${cublasInclude}`,
      `-I${path.join(cudaHome!, 'include')}`, '-o', harness, ...sources, `-L${path.join(cudaHome!, 'lib64')}`, '-lcudart_static', '-ldl', '-lpthread', '-lrt'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  const run = (args: number[], env: Record<string, string> = {}) =>
    spawnSync(harness, args.map(String), { env: { ...process.env, CUDNN_GRU_CUDNN_PATH: dir, ...env }, encoding: 'utf8' });

  // cudnnRNNMode_t: RELU 0, TANH 1, LSTM 2, GRU 3; G gates.
  const modes = [{ name: 'rnn_relu', cell: 0, G: 1 }, { name: 'rnn_tanh', cell: 1, G: 1 }, { name: 'lstm', cell: 2, G: 4 }, { name: 'gru', cell: 3, G: 3 }];
  for (const m of modes) {
    it(`${m.name}: 2 layers, bidirectional: every gate's matrix and bias lands where cuDNN says, and comes back out`, () => {
      const [I, H, L, D] = [3, 2, 2, 2];
      const r = run([m.cell, I, H, L, 1]);
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { gaps: boolean; roundTrip: boolean; space: number[] };
      // The expected space, from the stand-in's layout rule, written again here; canonical values
      // are 1-based positions in PyTorch's state-dict order (weight_ih, weight_hh, bias_ih, bias_hh per slot).
      const inputOf = (slot: number, id: number) => (id >= m.G ? H : Math.floor(slot / D) === 0 ? I : D * H);
      const canonicalStart: number[][] = []; // [slot][tensor] -> first value
      let next = 1;
      for (let slot = 0; slot < L * D; slot++) {
        canonicalStart.push([]);
        for (const n of [m.G * H * inputOf(slot, 0), m.G * H * H, m.G * H, m.G * H]) {
          canonicalStart[slot]!.push(next);
          next += n;
        }
      }
      const expected: number[] = [];
      for (let slot = L * D - 1; slot >= 0; slot--) {
        for (let id = 2 * m.G - 1; id >= 0; id--) {
          const gate = id % m.G;
          const recurrent = id >= m.G;
          const bias = canonicalStart[slot]![recurrent ? 3 : 2]! + gate * H;
          for (let i = 0; i < H; i++) expected.push(bias + i);
          expected.push(-1);
          const matrix = canonicalStart[slot]![recurrent ? 1 : 0]! + gate * H * inputOf(slot, id);
          for (let i = 0; i < H * inputOf(slot, id); i++) expected.push(matrix + i);
          expected.push(-1);
        }
      }
      assert.deepEqual(out.space, expected);
      assert.equal(out.gaps, true, 'the padding is reported (the engine zeroes it)');
      assert.equal(out.roundTrip, true, 'unpacking returns every canonical tensor');
    });
  }

  it('a shape that is not the expected one is an error naming the pseudo-layer and linLayerID', () => {
    const r = run([2, 3, 2, 2, 1], { CGRU_STANDIN_BAD_SHAPE: '2:5' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^cuda lstm: cuDNN's weight layout is not the expected one \(pseudo-layer 2, linLayerID 5 matrix: 2 floats at byte \d+, expected 4 floats\)/);
  });
});
