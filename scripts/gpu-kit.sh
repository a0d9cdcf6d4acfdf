#!/usr/bin/env bash
# Packs what a GPU machine without Node or npm needs to run `test:gpu` and `bench:gpu` into
# .device/ (in .gitignore; pass it to the device tool with carry: [".device"], then run
# `bash scripts/gpu-run.sh gpu` there): a stripped Node, the prebuilt binary (CUDA for every
# supported GPU, OpenBLAS static) and the runtime node_modules (mocha, tsx). The prebuild is
# rebuilt when any native source, CMakeLists.txt or a build script is newer than it (a stale
# binary would test old code), and refused unless it is the CUDA variant.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kit="$root/.device"
cd "$root"
rm -rf "$kit" && mkdir -p "$kit"

prebuild="$(ls prebuilds/linux-x64/*.node 2>/dev/null | head -n 1 || true)"
if [ -z "$prebuild" ] || [ -n "$(find native CMakeLists.txt scripts/prebuild.js scripts/prebuildify-cmake.js -newer "$prebuild" -print -quit)" ]; then
  echo "gpu-kit: building the prebuild (${prebuild:+$prebuild is older than the sources; }npm run prebuilds)"
  CGRU_PREBUILD_CUDA=ON npm run prebuilds
  prebuild="$(ls prebuilds/linux-x64/*.node | head -n 1)"
fi
CUDNN_GRU_ADDON="$prebuild" node -e '
  const c = require(require("node:path").resolve(process.env.CUDNN_GRU_ADDON)).backendInfo().cuda;
  if (!c.compiled) { console.error(`gpu-kit: ${process.env.CUDNN_GRU_ADDON} is not the CUDA variant: ${c.reason}`); process.exit(1); }'

# The working tree that travels with the kit may have no .git: gpu-run.sh reports this.
echo "$(git describe --always --dirty) (kit made $(date -u +%FT%TZ) from $prebuild)" > "$kit/commit.txt"
strip -o "$kit/node" "$(command -v node)" && xz -T2 "$kit/node"
xz -T2 -c "$prebuild" > "$kit/cudnn_gru.node.xz"

# Only what runs tests and benchmarks: no compilers, type checker or other build tools.
tar -C "$root" -cJf "$kit/node_modules.tar.xz" \
  --exclude='node_modules/typescript' --exclude='node_modules/@typescript' \
  --exclude='node_modules/onnxruntime-node' --exclude='node_modules/onnxruntime-common' \
  --exclude='node_modules/cmake-js' --exclude='node_modules/node-api-headers' --exclude='node_modules/prebuildify' \
  node_modules
du -sh "$kit"/*
echo "gpu-kit: $(du -sh "$kit" | cut -f1) in .device/ (the device tool carries at most 64 MiB with the working tree), from $prebuild"
