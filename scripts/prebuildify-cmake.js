#!/usr/bin/env node
// prebuildify drives node-gyp; this stands in for it (prebuildify --node-gyp ...), ignores
// node-gyp's flags and runs the cmake-js build of the prebuilt binary: CUDA compiled in (libraries
// loaded at run time) and OpenBLAS linked statically, so the binary needs only glibc and libstdc++.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const cuda = process.env.CGRU_PREBUILD_CUDA || 'ON';
const args = [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', '--CDCGRU_STATIC_BLAS=ON', '--CDCGRU_BLAS=OpenBLAS', `--CDCGRU_CUDA=${cuda}`, '--CDCGRU_WERROR=ON'];
if (process.env.CGRU_CUDA_ARCHITECTURES) args.push(`--CDCGRU_CUDA_ARCHITECTURES=${process.env.CGRU_CUDA_ARCHITECTURES}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
