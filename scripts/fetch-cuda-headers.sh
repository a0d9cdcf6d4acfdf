#!/usr/bin/env bash
# Fetches cuDNN and cuBLAS headers from NVIDIA's Python wheels (pip works offline from a local
# index on our build machines) into .deps/nvidia, for building the CUDA variant where the
# system has no cuDNN. Only headers are kept: the libraries are loaded at run time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.deps/nvidia"
if [ -f "$dest/cudnn/include/cudnn_adv.h" ] && [ -f "$dest/cu13/include/cublas_v2.h" ]; then
  echo "cuDNN/cuBLAS headers already in $dest"; exit 0
fi
wheels="${CGRU_WHEEL_CACHE:-$root/.deps/wheels}"
mkdir -p "$wheels" "$root/.deps"
# Local wheel folders first (no network retries), then whatever index pip is configured with.
links=()
for d in /opt/pypi-more/files /opt/pypi/files /opt/wheels; do [ -d "$d" ] && links+=(--find-links "$d"); done
python3 -m pip download -q --no-deps --no-index "${links[@]}" nvidia-cudnn-cu13 nvidia-cublas -d "$wheels" \
  || python3 -m pip download -q --no-deps --retries 1 nvidia-cudnn-cu13 nvidia-cublas -d "$wheels"
for w in "$wheels"/nvidia_cudnn_cu13-*.whl "$wheels"/nvidia_cublas-*.whl; do
  unzip -q -o "$w" 'nvidia/*/include/*' -d "$root/.deps"
done
echo "headers in $dest: CUDNN_ROOT=$dest/cudnn CUBLAS_ROOT=$dest/cu13"
