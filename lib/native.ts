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

export const native: NativeBinding = loadBinding();
