#!/usr/bin/env node
// npm install hook: use a binary that loads (a prebuild for this platform, or an earlier source
// build); otherwise build from source with cmake-js. Set CUDNN_GRU_BUILD_FROM_SOURCE=1 to force
// the source build. On failure, say what was tried and what to install.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const platform = `${process.platform}-${process.arch}`;

function loadsExisting() {
  if (process.env.CUDNN_GRU_BUILD_FROM_SOURCE === '1') return false;
  try {
    const binding = require('node-gyp-build')(root);
    const info = binding.backendInfo();
    console.log(`cudnn-gru: using an existing binary for ${platform} (BLAS: ${info.cpu.blas}, CUDA compiled: ${info.cuda.compiled})`);
    return true;
  } catch (err) {
    console.log(`cudnn-gru: no prebuilt binary fits ${platform} / Node-API ${process.versions.napi} (${err.message.split('\n')[0]}); building from source`);
    return false;
  }
}

function buildFromSource() {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const result = spawnSync(process.execPath, [cmakeJs, 'compile'], { cwd: root, stdio: 'inherit' });
  if (result.status === 0) return;
  console.error(
    [
      '',
      `cudnn-gru: building the native addon from source failed (platform ${platform}, Node ${process.versions.node}).`,
      'Tried: a prebuilt binary in prebuilds/, then `cmake-js compile`.',
      require('./build-requirements'),
    ].join('\n'),
  );
  process.exit(result.status || 1);
}

if (!loadsExisting()) buildFromSource();
