// The typed surface of the native addon (native/bindings/*.cpp). lib/ codes against this;
// users normally use the TypeScript API in lib/ instead.

declare const tensorHandleBrand: unique symbol;
/** Opaque native memory of one tensor (a type-tagged External). */
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
}

export interface NativeCudaInfo {
  /** The binary contains the CUDA backend. */
  compiled: boolean;
  /** A device, cuDNN and cuBLAS were all found and initialised. */
  available: boolean;
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
  setNumThreads(numThreads: number): void;
  getNumThreads(): number;

  /** Allocates `numel` elements on `device`, zeroed unless `init` (same type and length) is given. */
  alloc(device: DeviceName, dtype: DTypeName, numel: number, init?: HostArray | null): TensorHandle;
  /** Copies the data to a new typed array. */
  read(handle: TensorHandle): HostArray;
  readAsync(handle: TensorHandle): Promise<HostArray>;
  write(handle: TensorHandle, data: HostArray): void;
  copyTo(handle: TensorHandle, device: DeviceName): TensorHandle;
  /** Frees the memory now; using the handle afterwards is an error. */
  free(handle: TensorHandle): void;
  isFreed(handle: TensorHandle): boolean;
  /** Waits until all work queued on `device` is done. */
  synchronize(device: DeviceName): void;
  /** Live allocations per device, as the native allocator counts them. */
  nativeMemory(): Record<DeviceName, NativeDeviceMemory>;
}

// ------------------------------------------------------------------ GRU (native/bindings/gru_bindings.cpp)

declare const gruReserveBrand: unique symbol;
/** A training-mode forward's saved state (a type-tagged External); see gruBackward/gruReserveFree. */
export interface GruReserveHandle {
  readonly [gruReserveBrand]: true;
}

export interface NativeGruConfig {
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
  /** Training mode only. */
  reserve?: GruReserveHandle;
  reserveBytes?: number;
}

export interface NativeGruBackwardResult {
  dx: TensorHandle;
  dh0: TensorHandle;
  /** Canonical order: per layer, per direction: W_ih, W_hh, b_ih, b_hh. */
  dParams: TensorHandle[];
}

export interface NativeBinding {
  /** params: per layer, per direction: W_ih [3H, in], W_hh [3H, H], b_ih [3H], b_hh [3H]. lengths: int32 [batch]. */
  gruForward(
    config: NativeGruConfig,
    x: TensorHandle,
    h0: TensorHandle | null,
    lengths: TensorHandle | null,
    params: TensorHandle[],
    training: boolean,
  ): NativeGruForwardResult;
  /** Consumes (and frees) `reserve` unless `retain` is true. dy/dhN null mean zeros. */
  gruBackward(
    config: NativeGruConfig,
    x: TensorHandle,
    h0: TensorHandle | null,
    lengths: TensorHandle | null,
    params: TensorHandle[],
    reserve: GruReserveHandle,
    dy: TensorHandle | null,
    dhN: TensorHandle | null,
    retain?: boolean,
  ): NativeGruBackwardResult;
  /** Frees the saved state now; true when this call released memory. Idempotent. */
  gruReserveFree(reserve: GruReserveHandle): boolean;
}
