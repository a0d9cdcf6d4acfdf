// The typed surface of the native addon (native/bindings/*.cpp). lib/ codes against this;
// users normally use the TypeScript API in lib/ instead.

declare const tensorHandleBrand: unique symbol;
/**
 * Opaque native memory of one tensor: a type-tagged External naming a slot of this environment's
 * native handle table. Only free() (or the environment's exit) releases it: dropping the handle
 * does not (the JS layer frees forgotten tensors through a FinalizationRegistry).
 */
export interface TensorHandle {
  readonly [tensorHandleBrand]: true;
}

export type DeviceName = 'cpu' | 'cuda';
export type DTypeName = 'float32' | 'int32';
export type HostArray = Float32Array | Int32Array;

export interface NativeCpuInfo {
  blas: string;
  blasIsBuiltin: boolean;
  /** Present when the build fell back to the slow built-in GEMM. */
  warning?: string;
  threads: number;
  blasThreads: number;
  cores: number;
  /** Instruction set of the CPU kernels: the best the CPU has, or what CUDNN_GRU_CPU_ISA forces. */
  isa: 'generic' | 'avx2' | 'avx512';
  /** The best instruction set this CPU and OS support (cpuid + xgetbv). */
  isaDetected: 'generic' | 'avx2' | 'avx512';
  /** CPU features the kernels care about, e.g. 'avx2', 'fma', 'avx512f', 'avx512bf16', 'amx-tile'. */
  features: string[];
  /** Which kernels run each part of the recurrent engine: 'packed-avx512', 'packed-avx2' or 'blas' (backward: 'packed-… step and input gradient, blas weight gradients' where its time loop is packed). */
  kernels: { recurrentStep: string; inputProjection: string; backward: string };
  /** The kernel set the BLAS runs (OpenBLAS: its core, e.g. 'SkylakeX'); '' where the BLAS has none. */
  blasCore: string;
}

export interface NativeCudaInfo {
  /** The binary contains the CUDA backend. */
  compiled: boolean;
  /** A device, cuDNN and cuBLAS were all found and initialised. */
  available: boolean;
  /**
   * The CUDA backend also has the tensor ops the model layer needs (dense, losses, optimizers);
   * without them only ops.gru runs on CUDA, and 'auto' keeps models on the CPU.
   */
  tensorOps: boolean;
  /** TF32 tensor-core maths is on for FP32 GEMMs and the GRU (setAllowTF32); false without CUDA. */
  allowTF32: boolean;
  /** Why CUDA is not available (absent when it is). */
  reason?: string;
  deviceName?: string;
  deviceIndex?: number;
  computeCapability?: string;
  totalMemoryBytes?: number;
  driverVersion?: number;
  runtimeVersion?: number;
  cudnnVersion?: number;
  cudnnPath?: string;
  cublasVersion?: number;
  cublasPath?: string;
  /** Every library path tried, in order. */
  searchedPaths?: string[];
}

export interface NativeBackendInfo {
  cpu: NativeCpuInfo;
  cuda: NativeCudaInfo;
}

export interface NativeDeviceMemory {
  buffers: number;
  bytes: number;
}

export interface NativeBinding {
  backendInfo(): NativeBackendInfo;
  /** CPU engine and BLAS threads of the calling thread's Node environment (each worker has its own). */
  setNumThreads(numThreads: number): void;
  getNumThreads(): number;
  /** Switches TF32 maths for the CUDA backend's GEMMs and GRU; no effect without CUDA. */
  setAllowTF32(allow: boolean): void;

  /** Allocates `numel` elements on `device`, zeroed unless `init` (same type and length) is given. */
  alloc(device: DeviceName, dtype: DTypeName, numel: number, init?: HostArray | null): TensorHandle;
  /** Copies the data to a new typed array. */
  read(handle: TensorHandle): HostArray;
  readAsync(handle: TensorHandle): Promise<HostArray>;
  /** The index of the first NaN or ±Inf of a float32 cpu tensor, or −1; throws for other tensors. */
  firstNonFinite(handle: TensorHandle): number;
  write(handle: TensorHandle, data: HostArray): void;
  copyTo(handle: TensorHandle, device: DeviceName): TensorHandle;
  /** Frees the memory now; using the handle afterwards is an error (even once its slot is reused). */
  free(handle: TensorHandle): void;
  /** Whether free() was called on this tensor handle; throws for anything that is not one. */
  isFreed(handle: TensorHandle): boolean;
  /** Waits until all work queued on `device` is done. */
  synchronize(device: DeviceName): void;
  /** Live allocations per device, as the native allocator counts them (the whole process: every worker). */
  nativeMemory(): Record<DeviceName, NativeDeviceMemory>;
}

// ------------------------------------------------------------------ GRU, LSTM, RNN (native/bindings/gru_bindings.cpp)

declare const gruReserveBrand: unique symbol;
/** A training-mode forward's saved state (a type-tagged handle like TensorHandle); see gruBackward/gruReserveFree. */
export interface GruReserveHandle {
  readonly [gruReserveBrand]: true;
}

/** The recurrence: cuDNN's modes (PyTorch nn.GRU, nn.LSTM, nn.RNN with tanh or relu). */
export type NativeRnnMode = 'gru' | 'lstm' | 'rnn_tanh' | 'rnn_relu';

export interface NativeGruConfig {
  /** Default 'gru'; the gru* bindings take 'gru' only. Weights have gates·H rows: 3 (GRU), 4 (LSTM), 1 (RNN). */
  mode?: NativeRnnMode;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  /** In [0, 1); applied between layers in training mode only. */
  dropout: number;
  /** Dropout mask seed, an integer in [0, 2^53). */
  seed: number;
  batch: number;
  seqLen: number;
}

export interface NativeGruForwardResult {
  /** [batch, seqLen, directions·hiddenSize] */
  y: TensorHandle;
  /** [numLayers·directions, batch, hiddenSize] */
  hN: TensorHandle;
  /** LSTM only: [numLayers·directions, batch, hiddenSize] */
  cN?: TensorHandle;
  /** Training mode only. */
  reserve?: GruReserveHandle;
  reserveBytes?: number;
}

export interface NativeGruBackwardResult {
  /** null when rnnBackward's inputGradient was false. */
  dx: TensorHandle | null;
  dh0: TensorHandle;
  /** LSTM only. */
  dc0?: TensorHandle;
  /** Canonical order: per layer, per direction: W_ih, W_hh, b_ih, b_hh. */
  dParams: TensorHandle[];
}

/** The arguments gruForward and rnnForward share. lengths: int32 [batch]. */
type RecurrentForwardArgs = [
  config: NativeGruConfig,
  x: TensorHandle,
  h0: TensorHandle | null,
  lengths: TensorHandle | null,
  params: TensorHandle[],
  training: boolean,
];

/** The arguments gruBackward and rnnBackward share. dy/dhN null mean zeros. */
type RecurrentBackwardArgs = [
  config: NativeGruConfig,
  x: TensorHandle,
  h0: TensorHandle | null,
  lengths: TensorHandle | null,
  params: TensorHandle[],
  reserve: GruReserveHandle,
  dy: TensorHandle | null,
  dhN: TensorHandle | null,
  retain?: boolean,
];

export interface NativeBinding {
  /** params: per layer, per direction: W_ih [3H, in], W_hh [3H, H], b_ih [3H], b_hh [3H]. */
  gruForward(...args: RecurrentForwardArgs): NativeGruForwardResult;
  /** Consumes (and frees) `reserve` unless `retain` is true. */
  gruBackward(...args: RecurrentBackwardArgs): NativeGruBackwardResult;
  /** Frees the saved state now; true when this call released memory. Idempotent. */
  gruReserveFree(reserve: GruReserveHandle): boolean;
  /** gruForward for every config.mode (weights gates·H rows); c0 (LSTM only, else null): [numLayers·directions, batch, hiddenSize]. */
  rnnForward(...args: [...RecurrentForwardArgs, c0: TensorHandle | null]): NativeGruForwardResult;
  /**
   * gruBackward for every config.mode; c0 and dcN (null means zeros) are the LSTM's, null
   * otherwise. inputGradient false (default true): no dx (the CPU engine skips layer 0's dX GEMM).
   */
  rnnBackward(...args: [...RecurrentBackwardArgs, c0?: TensorHandle | null, dcN?: TensorHandle | null, inputGradient?: boolean]): NativeGruBackwardResult;
  rnnReserveFree(reserve: GruReserveHandle): boolean;
}

// ------------------------------------------------------------------ Tensor ops (native/bindings/ops_bindings.cpp)
// Outputs are existing tensors written in place; all tensors of one call on one device.

export type NativeUnaryKind =
  | 'linear' | 'relu' | 'sigmoid' | 'tanh' | 'elu' | 'softmax' | 'softplus' | 'selu' | 'exp' | 'square' | 'abs'
  | 'gelu' | 'swish' | 'hardSigmoid' | 'relu6' | 'sqrt' | 'log' | 'log1p';
/** greater / greaterEqual give 1 where a > b (a ≥ b), else 0. */
export type NativeBinaryKind = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'greater' | 'greaterEqual';
export type NativeLossKind =
  | 'meanSquaredError' | 'meanAbsoluteError' | 'binaryCrossentropy' | 'binaryCrossentropyLogits'
  | 'categoricalCrossentropy' | 'categoricalCrossentropyLogits'
  | 'sparseCategoricalCrossentropy' | 'sparseCategoricalCrossentropyLogits';
export type NativeMetricKind = 'binaryAccuracy' | 'categoricalAccuracy' | 'sparseCategoricalAccuracy';

export interface NativeBinding {
  /** c[m×n] = alpha·op(a)·op(b) + beta·c, row-major, contiguous. */
  opsGemm(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number, a: TensorHandle, b: TensorHandle, beta: number, c: TensorHandle): void;
  opsBiasAdd(x: TensorHandle, bias: TensorHandle, rows: number, cols: number): void;
  /** out = beta·out + column sums of x [rows, cols]. */
  opsColumnSums(x: TensorHandle, rows: number, cols: number, out: TensorHandle, beta: number): void;
  /** y = f(x); softmax over rows of width cols (cols is ignored otherwise but must divide numel). */
  opsUnary(kind: NativeUnaryKind, x: TensorHandle, y: TensorHandle, cols: number): void;
  /** dx = beta·dx + dy·f'(x), given y = f(x) (x needed by softplus, square, abs, gelu, swish, hardSigmoid, log, log1p). */
  opsUnaryGrad(kind: NativeUnaryKind, x: TensorHandle | null, y: TensorHandle, dy: TensorHandle, dx: TensorHandle, cols: number, beta: number): void;
  /** out[i] = a[⌊i / aDiv⌋ mod a.numel] ∘ b[⌊i / bDiv⌋ mod b.numel] (broadcasting a scalar, a row or a column). */
  opsBinary(kind: NativeBinaryKind, a: TensorHandle, b: TensorHandle, out: TensorHandle, aDiv: number, bDiv: number): void;
  /** out[o, j] = alpha·Σ_m x[o, m, j], x viewed as [outer, n, inner] (double accumulation). */
  opsReduceSum(x: TensorHandle, outer: number, n: number, inner: number, out: TensorHandle, alpha: number): void;
  /** y += alpha·x */
  opsAxpy(alpha: number, x: TensorHandle, y: TensorHandle): void;
  opsScale(x: TensorHandle, alpha: number): void;
  opsFill(x: TensorHandle, value: number): void;
  /** dst[r, dstStart + j] = beta·dst[…] + src[r, srcStart + j] for j < width. */
  opsCopyColumns(src: TensorHandle, rows: number, srcCols: number, srcStart: number, dst: TensorHandle, dstCols: number, dstStart: number, width: number, beta: number): void;
  /** Reverses each sample's first lengths[b] steps (all steps when lengths is null). */
  opsReverseTime(x: TensorHandle, out: TensorHandle, batch: number, seqLen: number, features: number, lengths: TensorHandle | null): void;
  /** out[outIndex] = (1/rows)·Σ rowWeights[r]·loss_r; grad = its gradient w.r.t. pred. Sparse kinds: target int32 [rows]. */
  opsLoss(kind: NativeLossKind, pred: TensorHandle, target: TensorHandle, rows: number, cols: number, grad: TensorHandle | null, out: TensorHandle, outIndex: number, rowWeights?: TensorHandle | null): void;
  opsMetric(kind: NativeMetricKind, pred: TensorHandle, target: TensorHandle, rows: number, cols: number, threshold: number, out: TensorHandle, outIndex: number, rowWeights?: TensorHandle | null): void;
  /** Keras SGD: v = momentum·v − lr·g; p += v (nesterov: p += momentum·v − lr·g). */
  opsSgd(param: TensorHandle, grad: TensorHandle, velocity: TensorHandle | null, lr: number, momentum: number, nesterov: boolean): void;
  /** Keras Adam with lr = bias-corrected step size; AdamW: p −= p·weightDecay·baseLr first. */
  opsAdam(param: TensorHandle, grad: TensorHandle, m: TensorHandle, v: TensorHandle, lr: number, baseLr: number, beta1: number, beta2: number, epsilon: number, weightDecay: number): void;
  opsRmsprop(param: TensorHandle, grad: TensorHandle, meanSquare: TensorHandle, momentumBuffer: TensorHandle | null, lr: number, rho: number, momentum: number, epsilon: number): void;
  opsClipValue(x: TensorHandle, lo: number, hi: number): void;
  opsSumSquares(x: TensorHandle, out: TensorHandle, outIndex: number): void;
  opsClipNorm(tensors: TensorHandle[], maxNorm: number, global: boolean): void;
  opsDropoutMask(mask: TensorHandle, rate: number, seed: number): void;
  opsGather(table: TensorHandle, vocab: number, dim: number, indices: TensorHandle, out: TensorHandle): void;
  opsScatterAdd(dOut: TensorHandle, indices: TensorHandle, dTable: TensorHandle, vocab: number, dim: number): void;
  opsFirstNonFinite(x: TensorHandle): number;
}
