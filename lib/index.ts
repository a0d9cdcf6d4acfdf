// cudnn-gru: GRU networks on cuDNN (GPU) or a BLAS engine with identical numerics (CPU).
export type { DeviceName, NativeBackendInfo } from '../binding';
export { backendInfo, getDevice, setDevice, setNumThreads, getNumThreads, synchronize, type BackendInfo, type DeviceRequest } from './backend';
export { tidy, keep, dispose, memory, startScope, endScope, NativeResource, type MemoryInfo, type Trackable } from './engine';
export { Tensor, tensor, scalar, zeros, ones, fill, shapeSize, type DType, type Shape, type NestedArray, type TensorOptions } from './tensor';
export * as ops from './ops';
export * as io from './io';
