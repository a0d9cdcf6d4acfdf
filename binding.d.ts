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
  /** Live allocations per device, as the native allocator counts them. */
  nativeMemory(): Record<DeviceName, NativeDeviceMemory>;
}
