#!/usr/bin/env bash
# Runs on the GPU machine from the repository root, with .device/ made by scripts/gpu-kit.sh
# (device tool: carry [".device"], timeout_s 600).
#   bash scripts/gpu-run.sh gpu    the GPU suite (test/gpu: GRU, LSTM, RNN tanh/relu and the tensor
#                                  ops against the CPU engine), the device-generic suites (PyTorch
#                                  fixtures, finite differences and dropout on CUDA), then bench:gpu
#                                  against PyTorch's cuDNN (FP32, TF32 on both sides, cuDNN's
#                                  PERSIST_STATIC_SMALL_H on the small-H configs)
#   bash scripts/gpu-run.sh suite  the whole suite against the same binary
#   bash scripts/gpu-run.sh all    both, which do not fit one 600 s call: steps past the budget are skipped
# The run keeps to GPU_RUN_BUDGET seconds (default 560) whatever fails: each step has its own
# limit, cut to what is left of the budget, and is killed at it (SIGKILL 5 s after SIGTERM), so a
# hung step cannot eat the rest. Results go to $OUT (or /tmp/gpu-out), at most 8 files (what the
# device tool brings back): summary.txt (machine, libraries, every step's outcome, failing tests,
# the FP32 ratio per config and phase, benchmark verdicts; grows after every step, printed at the
# end), test-gpu.log, test-suites.log, bench.log, gpu-<date>.md/.json (FP32 benchmark, ready for
# bench/results), gpu-extra.tar.gz (the TF32 and SMALL_H benchmarks, .md and .json each) and,
# for the suite, test-all.log. Exit status 0 only when CUDA works and every step passed.
set -uo pipefail
phase="${1:-gpu}"
case "$phase" in gpu | suite | all) ;; *) echo "usage: $0 [gpu|suite|all]" >&2; exit 2 ;; esac
out="${OUT:-/tmp/gpu-out}"
budget="${GPU_RUN_BUDGET:-560}"
date="$(date -u +%F)"
extra="$(mktemp -d)"
summary="$out/summary.txt"
mkdir -p "$out" /tmp/cgru-bin
status=0
note() { echo "$*" >> "$summary"; }

: > "$summary"
note "gpu-run.sh $phase, $(date -u +%FT%TZ), budget ${budget}s; kit: $(cat .device/commit.txt 2>/dev/null || echo 'no .device/commit.txt')"
if ! { xz -dc .device/node.xz > /tmp/cgru-bin/node && chmod +x /tmp/cgru-bin/node &&
       tar -xJf .device/node_modules.tar.xz && xz -dc .device/cudnn_gru.node.xz > /tmp/cudnn_gru.node; } 2>> "$summary"; then
  note "FAILED: unpacking .device/ (made by scripts/gpu-kit.sh, passed with carry [\".device\"])"
  cat "$summary"
  exit 1
fi
export PATH="/tmp/cgru-bin:$PATH" CUDNN_GRU_ADDON=/tmp/cudnn_gru.node
mocha=node_modules/mocha/bin/mocha.js

# step <name> <seconds> <log> <command...>: runs one step within its limit and what is left of the
# budget, appends its output to <log> and its outcome to the summary.
step() {
  local name="$1" limit="$2" log="$3" left rc t0
  shift 3
  left=$((budget - SECONDS - 5))
  [ "$left" -lt "$limit" ] && limit="$left"
  if [ "$limit" -lt 10 ]; then
    note "SKIPPED $name: the budget is spent"
    status=1
    return
  fi
  echo "=== $name: $* (limit ${limit}s)" >> "$log"
  t0=$SECONDS
  timeout -k 5 "$limit" "$@" >> "$log" 2>&1
  rc=$?
  local took="$((SECONDS - t0))s of ${limit}s"
  if [ "$rc" -eq 0 ]; then
    note "PASSED $name ($took)"
  else
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && took="$took: killed at its limit"
    note "FAILED $name: exit $rc ($took)"
    status=1
  fi
  echo "=== $name: exit $rc" >> "$log"
}

# What a test log says: its closing counts, then each failing test (mocha's failure list after
# "N failing": "  N) suite", more title lines, a blank line, the error) on one line.
testReport() {
  grep -sE '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1 | sed 's/^/  /' >> "$summary"
  awk '/^  [0-9]+ failing/ { f = 1; next }
    f && /^  [0-9]+\) / {
      t = $0; sub(/^ +/, "", t)
      while ((getline l) > 0 && l !~ /^[[:space:]]*$/) { sub(/^ +/, "", l); t = t " > " l }
      while ((getline l) > 0 && l ~ /^[[:space:]]*$/) {}
      sub(/^ +/, "", l); print "  failing: " t " -- " substr(l, 1, 300)
      if (++n == 40) exit
    }' "$1" >> "$summary" 2>/dev/null
}

{
  echo "--- machine"
  timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 || echo "nvidia-smi failed"
  echo "node $(node --version), $(nproc) cores"
  timeout 60 python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version(), "GPU", torch.cuda.is_available())' 2>&1 | tail -n 1
  echo "--- backendInfo().cuda"
} >> "$summary"
info="$(timeout -k 5 60 node -e '
  const c = require(process.env.CUDNN_GRU_ADDON).backendInfo().cuda;
  const keys = ["compiled", "available", "reason", "deviceName", "computeCapability", "driverVersion", "runtimeVersion",
    "cudnnVersion", "cudnnPath", "cublasVersion", "cublasPath", "tensorOps"];
  for (const k of keys) if (c[k] !== undefined && c[k] !== "") console.log(`${k}: ${c[k]}`);' 2>&1)"
echo "$info" >> "$summary"
if ! grep -qx 'available: true' <<< "$info"; then
  note "CUDA IS NOT AVAILABLE to the binary (see reason above): the GPU tests skip and bench:gpu fails"
  status=1
fi
note "--- steps"

if [ "$phase" != suite ]; then
  step "test:gpu (test/gpu: cuDNN GRU/LSTM/RNN and tensor ops vs the CPU)" 150 "$out/test-gpu.log" \
    node "$mocha" --config test/gpu/.mocharc.json
  testReport "$out/test-gpu.log"
  # Every suite that runs on each device: PyTorch fixtures, finite differences, dropout, layers
  # (--no-config: the default config's spec would add the whole suite to the files named).
  step "device-generic suites on CPU and CUDA" 90 "$out/test-suites.log" \
    node "$mocha" --no-config --require tsx/cjs --node-option expose-gc --reporter test/support/summary-reporter.cjs \
    --timeout 120000 test/gru.test.ts test/lstm.test.ts test/rnn.test.ts test/ops-math.test.ts test/tensor.test.ts \
    test/memory.test.ts test/activations.test.ts test/model.test.ts test/io-model.test.ts
  testReport "$out/test-suites.log"
  BENCH_OUT="$out/gpu-$date.md" step "bench:gpu FP32" 140 "$out/bench.log" env BENCH_DEVICE=cuda node --import tsx bench/gru.ts
  # The variants run one round each (the FP32 run above has two): they compare, they are not the record.
  BENCH_OUT="$extra/gpu-$date-tf32.md" BENCH_TF32=1 BENCH_ROUNDS=1 step "bench:gpu TF32 (both sides)" 80 "$out/bench.log" \
    env BENCH_DEVICE=cuda node --import tsx bench/gru.ts
  BENCH_OUT="$extra/gpu-$date-small-h.md" BENCH_ROUNDS=1 BENCH_ONLY=c1,tiny,lstm-c1,rnn-c1 CUDNN_GRU_RNN_ALGO=persist_static_small_h \
    step "bench:gpu PERSIST_STATIC_SMALL_H (c1, tiny)" 40 "$out/bench.log" env BENCH_DEVICE=cuda node --import tsx bench/gru.ts
  ls "$extra"/* > /dev/null 2>&1 && tar -C "$extra" -czf "$out/gpu-extra.tar.gz" .
  note "--- bench:gpu FP32, PyTorch time / ours per config and phase"
  [ -f "$out/gpu-$date.json" ] && node -e '
    const f = (v) => (typeof v === "number" && isFinite(v) ? v.toFixed(2) : "n/a");
    for (const r of require(process.argv[1]).results)
      console.log(`  ${r.config} ${r.phase}: ours ${f(r.oursMs)} ms, PyTorch ${f(r.torchMs)} ms, ratio ${f(r.ratio)} (target ${r.target}: ${r.ratio == null ? "no PyTorch timing" : r.met ? "met" : "NOT met"})`);' \
    "$out/gpu-$date.json" >> "$summary" 2>&1
  note "--- benchmark verdicts"
  grep -E '^=== bench.*exit|targets|Error' "$out/bench.log" | cut -c1-400 | head -n 30 | sed 's/^/  /' >> "$summary"
fi
if [ "$phase" != gpu ]; then
  # npm is not there: the install-path tests need it and run in CI instead.
  step "whole suite" 500 "$out/test-all.log" node "$mocha" --ignore test/install-paths.test.ts
  testReport "$out/test-all.log"
fi
note "--- exit $status after ${SECONDS}s"
rm -rf "$extra"
cat "$summary"
exit $status
