// Which device new tensors go to, and what the native side found. Selection: setDevice() or the
// CUDNN_GRU_DEVICE environment variable ('auto' | 'cpu' | 'cuda'); 'auto' picks CUDA when it
// works. Asking for 'cuda' where it cannot work is an error, never a silent CPU run.
import type { DeviceName, NativeCpuInfo, NativeCudaInfo } from '../binding';
import { native } from './native';

export type DeviceRequest = 'auto' | DeviceName;
const DEVICE_REQUESTS: readonly DeviceRequest[] = ['auto', 'cpu', 'cuda'];
const DEVICE_ENV = 'CUDNN_GRU_DEVICE';

let requested: DeviceRequest | undefined;
let requestSource = '';

export interface BackendInfo {
  /** The device new tensors are created on, or null when the request cannot be met. */
  device: DeviceName | null;
  requested: DeviceRequest;
  /** Where the request came from: 'default', 'setDevice()' or the environment variable. */
  requestedBy: string;
  /** Why the request cannot be met (only when device is null). */
  error?: string;
  /** Whether 'auto' uses CUDA on this machine (see `note` when CUDA works but it does not). */
  autoUsesCuda: boolean;
  note?: string;
  cpu: NativeCpuInfo;
  cuda: NativeCudaInfo;
}

// The native side probes CUDA once per process, so its report never changes: read it once, not on
// every tensor creation (getDevice() runs for each tensor made without an explicit device).
let cudaReport: NativeCudaInfo | undefined;
function cuda(): NativeCudaInfo {
  return (cudaReport ??= native.backendInfo().cuda);
}

function cudaUnavailableMessage(): string {
  return `CUDA is not available: ${cuda().reason ?? 'unknown reason'}`;
}

function currentRequest(): { request: DeviceRequest; source: string } {
  if (requested) return { request: requested, source: requestSource };
  const env = process.env[DEVICE_ENV];
  if (env === undefined || env === '') return { request: 'auto', source: 'default' };
  if (!(DEVICE_REQUESTS as readonly string[]).includes(env)) {
    throw new Error(`cudnn-gru: environment variable ${DEVICE_ENV} must be one of 'auto', 'cpu', 'cuda', got '${env}'`);
  }
  return { request: env as DeviceRequest, source: `${DEVICE_ENV}=${env}` };
}

// The CUDA path (cuDNN GRU engine, tensor ops) is compile-checked and its no-GPU behaviour tested,
// but it has not yet passed `npm run test:gpu` on a GPU. Until it has, 'auto' keeps work on the
// CPU rather than risk wrong answers; setDevice('cuda') still uses it, explicitly. Set to true in
// the change that records a passing test:gpu run under bench/results/.
const CUDA_VERIFIED_ON_GPU = false;

/** Whether 'auto' would use CUDA here: it works, can run a whole training step, and is verified. */
function autoUsesCuda(): boolean {
  return CUDA_VERIFIED_ON_GPU && cuda().available && cuda().tensorOps;
}

/**
 * The device new tensors are created on. 'auto' picks CUDA when it can run a whole training step
 * (cuDNN's GRU and the tensor ops) and that path is verified; an explicit 'cuda' only needs CUDA
 * to work. Throws when 'cuda' was asked for and cannot work.
 */
export function getDevice(): DeviceName {
  const { request, source } = currentRequest();
  if (request === 'cpu') return 'cpu';
  if (request === 'auto') return autoUsesCuda() ? 'cuda' : 'cpu';
  if (!cuda().available) throw new Error(`cudnn-gru: device 'cuda' requested by ${source}, but ${cudaUnavailableMessage()}`);
  return 'cuda';
}

/** Chooses the device for new tensors; returns the device that will be used. */
export function setDevice(device: DeviceRequest): DeviceName {
  if (!(DEVICE_REQUESTS as readonly unknown[]).includes(device)) {
    throw new TypeError(`setDevice: argument 'device' must be one of 'auto', 'cpu', 'cuda', got ${describe(device)}`);
  }
  if (device === 'cuda' && !cuda().available) {
    throw new Error(`setDevice: device 'cuda' requested, but ${cudaUnavailableMessage()}`);
  }
  requested = device;
  requestSource = 'setDevice()';
  return getDevice();
}

/** What the native side found: BLAS and threads, CUDA device and libraries or why not. */
export function backendInfo(): BackendInfo {
  const info = native.backendInfo();
  let request: DeviceRequest = 'auto';
  let source = 'default';
  let device: DeviceName | null = null;
  let error: string | undefined;
  try {
    ({ request, source } = currentRequest());
    device = getDevice();
  } catch (err) {
    error = (err as Error).message;
  }
  const auto = autoUsesCuda();
  const note =
    info.cuda.available && !auto
      ? `CUDA works here, but 'auto' does not use it yet: ${info.cuda.tensorOps ? 'the CUDA path has not been verified on a GPU (npm run test:gpu)' : 'this build has no CUDA tensor ops'}; setDevice('cuda') uses it explicitly`
      : undefined;
  return { device, requested: request, requestedBy: source, ...(error ? { error } : {}), autoUsesCuda: auto, ...(note ? { note } : {}), ...info };
}

/** Waits until all work queued on `device` (default: the current device) is done. */
export function synchronize(device: DeviceName = getDevice()): void {
  native.synchronize(device);
}

/** Threads used by the CPU engine and its BLAS together (defaults to the machine's cores). */
export function setNumThreads(numThreads: number): void {
  native.setNumThreads(numThreads);
}

export function getNumThreads(): number {
  return native.getNumThreads();
}

/**
 * Lets the CUDA backend use TF32 tensor cores for FP32 GEMMs (cuBLAS) and the GRU (cuDNN's
 * CUDNN_DEFAULT_MATH): faster on Ampere and newer, with about 1e-3 relative error instead of FP32
 * rounding. Off by default, so CPU and GPU agree to float rounding (PyTorch leaves matmul TF32 off
 * too, but turns it on for cuDNN; the bench sets both sides alike). Has no effect on the CPU:
 * `backendInfo().cuda.allowTF32` says whether it is on.
 */
export function setAllowTF32(allow: boolean): void {
  if (typeof allow !== 'boolean') throw new TypeError(`setAllowTF32: argument 'allow' must be a boolean, got ${describe(allow)}`);
  native.setAllowTF32(allow);
}

/** A short description of any value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as Float32Array).length}`;
  switch (typeof value) {
    case 'string':
      return `the string '${value.length > 40 ? `${value.slice(0, 40)}...` : value}'`;
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${String(value)}`;
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    default:
      return (value as object).constructor?.name ? `an instance of ${(value as object).constructor.name}` : 'an object';
  }
}
