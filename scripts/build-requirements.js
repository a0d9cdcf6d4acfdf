// What a source build needs, for the messages of scripts/install.js (a failed build) and
// lib/native.ts (no binary loads): one text, so the two cannot drift apart.
'use strict';

module.exports = [
  'To build from source you need:',
  '  - a C++17 compiler and CMake >= 3.18 (Debian/Ubuntu: apt-get install -y build-essential cmake;',
  '    macOS: xcode-select --install && brew install cmake)',
  '  - OpenBLAS for a fast CPU engine (apt-get install -y libopenblas-dev; brew install openblas);',
  '    without it the build uses a slow built-in GEMM and says so',
  '  - optional, for the GPU backend: the CUDA toolkit (nvcc; CUDACXX or CUDA_HOME if not in /usr/local/cuda)',
  '    and cuDNN 9 + cuBLAS headers (system packages, or CUDNN_ROOT/CUBLAS_ROOT pointing at the',
  '    nvidia-cudnn-cu13 / nvidia-cublas wheel folders; see scripts/fetch-cuda-headers.sh)',
  'Then run: npm rebuild cudnn-gru',
].join('\n');
