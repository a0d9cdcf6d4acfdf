// Saving, loading and interop: crash-safe writes, safetensors, HDF5 (Keras weights), PyTorch and
// Keras weight import, ONNX export. See docs/io.md.
export { writeFileAtomic, writeFileAtomicSync, commitDirectorySync, readVerifiedSync, type FileRef, type FileData, type CommitOptions } from './atomic';
export {
  readSafetensors, writeSafetensors, decodeSafetensors, encodeSafetensors, toFloat32, SafetensorsError,
  type SafeDType, type SafeTensor, type SafetensorsFile, type TensorToWrite,
} from './safetensors';
export { Hdf5File, Hdf5Error, listDatasets, type Hdf5Dataset, type Hdf5Group, type Hdf5DType } from './hdf5';
export {
  readTorchModules, readKerasModules, WeightImportError,
  type ImportedModule, type ImportedRecurrent, type ImportedGru, type ImportedDense, type ImportedEmbedding, type ModuleFamily, type RecurrentCell,
} from './frameworks';
export { buildOnnxGraph, buildOnnxModel, writeOnnxGraph, writeOnnxModel, OnnxExportError, type OnnxGraph, type OnnxGraphOptions, type OnnxLayerSpec, type OnnxExportOptions, type OnnxActivation } from './onnx';
export { saveArtifacts, loadArtifacts, ModelFormatError, MODEL_FORMAT, MODEL_FORMAT_VERSION, type ModelArtifacts, type HostTensor } from './artifacts';
export { assignModules, type LayerSlot, type AssignOptions } from './assign';
export {
  saveModel, loadModel, loadWeights, exportOnnx, onnxGraph, saveCheckpoint, restoreCheckpoint,
  modelTopology, modelFromTopology, layerSlots, ModelIoError,
  type SaveOptions, type LoadOptions, type LoadWeightsOptions, type CheckpointInfo, type ModelTopology, type LayerConfig,
} from './model-io';
export {
  loadKerasModel, readKerasGraph, readKerasArchive, kerasGraphFromConfig, KerasModelError,
  type LoadKerasModelOptions, type KerasModelGraph, type KerasGraphLayer, type KerasGraphInput, type KerasCall, type KerasTensorRef, type KerasTrainingConfig,
} from './keras-model';
export { ZipArchive, ZipError, crc32, type ZipEntry } from './zip';
