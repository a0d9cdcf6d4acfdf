// Loads the native addon: a prebuild or a source build found by node-gyp-build, or an explicit
// file named by CUDNN_GRU_ADDON (used to test build variants side by side).
import * as path from 'node:path';
import type { NativeBinding } from '../binding';

function loadBinding(): NativeBinding {
  const explicit = process.env.CUDNN_GRU_ADDON;
  if (explicit) {
    try {
      return require(path.resolve(explicit)) as NativeBinding;
    } catch (err) {
      throw new Error(`cudnn-gru: CUDNN_GRU_ADDON=${explicit} could not be loaded: ${(err as Error).message}`);
    }
  }
  const root = path.join(__dirname, '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('node-gyp-build')(root) as NativeBinding;
  } catch (err) {
    throw new Error(
      `cudnn-gru: no native binary for ${process.platform}-${process.arch} (Node ${process.versions.node}, ` +
        `Node-API ${process.versions.napi}) could be loaded from ${root}.\n` +
        `  Tried: build/Release/*.node (a source build) and prebuilds/${process.platform}-${process.arch}/*.node.\n` +
        `  Cause: ${(err as Error).message}\n` +
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        (require('../scripts/build-requirements') as string),
    );
  }
}

/**
 * OpenBLAS's threads spin (yielding) for 2^28 cycles, a tenth of a second, after each call, so
 * during training they fight the engine's own threads for the cores between two BLAS calls
 * (measured: 50 000 forced context switches in 3 s of c2 training and its times spread from 65
 * to 100 ms; 500 and 61-66 ms with 2^18 cycles, about 0.1 ms). OpenBLAS reads the setting when it
 * loads, with the addon: set for that moment unless the user chose one, then taken back so that
 * child processes do not inherit it.
 */
function withBlasThreadTimeout<T>(load: () => T): T {
  if (process.env.OPENBLAS_THREAD_TIMEOUT !== undefined) return load();
  process.env.OPENBLAS_THREAD_TIMEOUT = '18';
  try {
    return load();
  } finally {
    delete process.env.OPENBLAS_THREAD_TIMEOUT;
  }
}

export const native: NativeBinding = withBlasThreadTimeout(loadBinding);
