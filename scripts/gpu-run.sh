#!/usr/bin/env bash
# Runs on the GPU machine from the repository root, with .device/ made by scripts/gpu-kit.sh:
# the GPU suite (npm run test:gpu), the GPU benchmark against PyTorch (npm run bench:gpu), and
# the rest of the suite against the same binary. Logs and results go to $OUT (or /tmp/gpu-out).
set -uo pipefail
out="${OUT:-/tmp/gpu-out}"
mkdir -p "$out" /tmp/cgru-bin
xz -dc .device/node.xz > /tmp/cgru-bin/node && chmod +x /tmp/cgru-bin/node
export PATH="/tmp/cgru-bin:$PATH"
tar -xJf .device/node_modules.tar.xz
xz -dc .device/cudnn_gru.node.xz > /tmp/cudnn_gru.node
export CUDNN_GRU_ADDON=/tmp/cudnn_gru.node
mocha=node_modules/mocha/bin/mocha.js

{ nvidia-smi; node --version; python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'; } > "$out/machine.txt" 2>&1
node --import tsx -e "console.log(JSON.stringify(require('./lib').backendInfo(), null, 1))" > "$out/backend-info.json" 2>&1

status=0
node "$mocha" --config test/gpu/.mocharc.json 2>&1 | tee "$out/test-gpu.log" || status=1
BENCH_DEVICE=cuda BENCH_OUT="$out/gpu-bench.md" node --import tsx bench/gru.ts 2>&1 | tee "$out/bench-gpu.log" || status=1
# npm is not there: the install-path tests need it and run in CI instead.
node "$mocha" --ignore test/install-paths.test.ts 2>&1 | tee "$out/test-all.log" || status=1
exit $status
