// cudnn-gru: GRU networks on cuDNN (GPU) or a BLAS engine with identical numerics (CPU).
export type { DeviceName, NativeBackendInfo } from '../binding';
export { backendInfo, getDevice, setDevice, setNumThreads, getNumThreads, setAllowTF32, synchronize, type BackendInfo, type DeviceRequest } from './backend';
export { tidy, keep, dispose, memory, startScope, endScope, NativeResource, type MemoryInfo, type Trackable } from './engine';
export { Tensor, tensor, scalar, zeros, ones, fill, shapeSize, type DType, type Shape, type NestedArray, type TensorOptions } from './tensor';
export * as ops from './ops';
export * as io from './io';
export { setSeed, getRngState, setRngState } from './random';
export * as layers from './layers';
export * as losses from './losses';
export * as optimizers from './optimizers';
export * as callbacks from './callbacks';
export { Sequential, sequential, History, type FitArgs, type CompileArgs, type Data, type TrainingConfig } from './models/sequential';
export { historyToSvg, saveHistoryPlot } from './plot';
export { loadModel } from './io/model-io';
export { loadKerasModel } from './io/keras-model';
export { modelCheckpoint, ModelCheckpoint, type ModelCheckpointArgs } from './callbacks/model-checkpoint';
