#!/usr/bin/env bash
# Packs what a GPU machine without Node or npm needs to run `test:gpu` and `bench:gpu` into
# .device/ (git-ignored; pass it to the device tool with carry: [".device"], then run
# `bash scripts/gpu-run.sh` there): a stripped Node, the prebuilt binary (CUDA for every
# supported GPU, OpenBLAS static) and the runtime node_modules (mocha, tsx).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kit="$root/.device"
cd "$root"
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
rm -rf "$kit" && mkdir -p "$kit"

strip -o "$kit/node" "$(command -v node)" && xz -T2 "$kit/node"

if ! ls prebuilds/linux-x64/*.node >/dev/null 2>&1; then npm run prebuilds; fi
xz -T2 -c "$(ls prebuilds/linux-x64/*.node | head -n 1)" > "$kit/cudnn_gru.node.xz"

# Only what runs tests and benchmarks: no compilers, type checker or other build tools.
tar -C "$root" -cJf "$kit/node_modules.tar.xz" \
  --exclude='node_modules/typescript' --exclude='node_modules/@typescript' \
  --exclude='node_modules/onnxruntime-node' --exclude='node_modules/onnxruntime-common' \
  --exclude='node_modules/cmake-js' --exclude='node_modules/node-api-headers' --exclude='node_modules/prebuildify' \
  node_modules
du -sh "$kit"/*
