#!/usr/bin/env bash
# Runs on the GPU machine from the repository root, with .device/ made by scripts/gpu-kit.sh.
#   bash scripts/gpu-run.sh gpu    the GPU suite (npm run test:gpu), the GPU benchmark against
#                                  PyTorch (npm run bench:gpu), the same with TF32 on both sides,
#                                  and cuDNN's PERSIST_STATIC_SMALL_H on the small-H configs
#   bash scripts/gpu-run.sh suite  the whole suite against the same binary
#   bash scripts/gpu-run.sh        both (may not fit in one 600 s device call)
# Two calls, back to back, keep the machine warm. Each step has its own time limit so that a call
# brings back what finished. Results go to $OUT (or /tmp/gpu-out): at most 8 files, as the device
# tool returns.
set -uo pipefail
phase="${1:-all}"
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
step() {  # step <seconds> <log> <command...>: runs one step, appends to its log, records failure
  local limit="$1" log="$2"
  shift 2
  echo "=== $* (limit ${limit}s)" >> "$log"
  timeout "$limit" "$@" >> "$log" 2>&1 || { echo "=== FAILED rc=$?" >> "$log"; status=1; }
}
if [ "$phase" != suite ]; then
  step 150 "$out/test-gpu.log" node "$mocha" --config test/gpu/.mocharc.json
  BENCH_OUT="$out/gpu-bench.md" step 150 "$out/bench.log" env BENCH_DEVICE=cuda node --import tsx bench/gru.ts
  BENCH_OUT="$out/gpu-bench-tf32.md" BENCH_TF32=1 step 120 "$out/bench.log" env BENCH_DEVICE=cuda node --import tsx bench/gru.ts
  BENCH_OUT="$out/gpu-bench-algo.md" BENCH_ONLY=c1,tiny CUDNN_GRU_RNN_ALGO=persist_static_small_h \
    step 60 "$out/bench.log" env BENCH_DEVICE=cuda node --import tsx bench/gru.ts
fi
# npm is not there: the install-path tests need it and run in CI instead.
[ "$phase" != gpu ] && step 500 "$out/test-all.log" node "$mocha" --ignore test/install-paths.test.ts
tail -n 3 "$out"/test-*.log
grep -h "targets" "$out"/gpu-bench*.md "$out/bench.log" 2>/dev/null
exit $status
