#!/usr/bin/env bash
# Compile check of the native addon for Linux arm64 (Graviton, Ampere; the portable kernels and
# the built-in GEMM, as a source build without a BLAS gets them) with Debian's cross-compiler
# (g++-aarch64-linux-gnu), at the build's warning level with -Werror, then a link into a shared
# object. Nothing runs: there is no arm64 Node here. Exit status 0 when every file compiles.
set -euo pipefail
cd "$(dirname "$0")/.."
cxx="${CXX_AARCH64:-aarch64-linux-gnu-g++}"
command -v "$cxx" >/dev/null || { echo "check-arm64: $cxx not found (apt-get install g++-aarch64-linux-gnu)"; exit 2; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/generated"
printf '#pragma once\n#define CGRU_BLAS_NAME "builtin"\n#define CGRU_CUDA_BUILD_NOTE "arm64 compile check"\n' > "$out/generated/cgru_build_config.h"
# The sources CMakeLists.txt compiles for a CPU-only build without a BLAS.
sources=(native/*.cpp native/core/*.cpp native/bindings/*.cpp)
for f in native/cpu/*.cpp; do [ "$f" = native/cpu/blas_cblas.cpp ] || sources+=("$f"); done
failed=0
for f in "${sources[@]}"; do
  if ! "$cxx" -std=c++17 -O2 -fPIC -Wall -Wextra -Wpedantic -Wno-unused-parameter -Werror \
      -Inative -I"$out/generated" -Inode_modules/node-addon-api -Inode_modules/node-api-headers/include \
      -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED \
      -DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS -DCGRU_BLAS_builtin=1 -c "$f" -o "$out/$(basename "$f").o"; then
    echo "check-arm64: $f does not compile"
    failed=1
  fi
done
[ $failed -eq 0 ] || exit 1
"$cxx" -shared -o "$out/cudnn_gru.node" "$out"/*.o -ldl -lpthread
machine="$("${cxx%g++}readelf" -h "$out/cudnn_gru.node" | sed -n 's/^ *Machine: *//p')"
[ "$machine" = AArch64 ] || { echo "check-arm64: the linked object is for '$machine', not AArch64"; exit 1; }
echo "check-arm64: ${#sources[@]} files compile and link into an AArch64 shared object"
