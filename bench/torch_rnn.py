#!/usr/bin/env python3
"""PyTorch nn.GRU / nn.LSTM / nn.RNN reference timings for bench/gru.ts, on the CPU or on CUDA
(cuDNN; TF32 off unless "tf32").

Usage: python3 bench/torch_rnn.py '<json>' where json = {"threads": 2, "minTimeMs": 300,
"device": "cpu" | "cuda", "tf32": false, "configs": [{"name", "cell": "gru" | "lstm" | "rnn",
"batch", "seqLen", "inputSize", "hiddenSize", "numLayers"}, ...]} (rnn: tanh).
Prints one JSON object: {"torch": version, "threads": n, "results": {name: {"forwardMs": [...],
"trainMs": [...]}}}. forward: inference (no_grad); train: forward + backward (dx, dh0 (and dc0)
and all parameter gradients) for cotangents dy, dhN (and dcN), as our engine computes, then an Adam step when
"adam" is given ({"lr", "beta1", "beta2", "epsilon"}). With "gemm": n (> 0) the output also has
"gemmMs": timings of one n×n·n×n torch.mm (the machine's sgemm limit as PyTorch's BLAS reaches it).
"""
import json
import sys
import time

import torch

CELLS = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM, "rnn": torch.nn.RNN}


WARMUP_S = 0.1  # as bench/gru.ts: two runs and at least this long before timing


def timed(fn, min_time_s, sync, min_reps=5):
    n, warm = 0, time.perf_counter()
    while n < 2 or time.perf_counter() - warm < WARMUP_S:
        fn()
        n += 1
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time_s:
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def main():
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(int(spec.get("threads", 2)))
    torch.manual_seed(0)
    min_time = float(spec.get("minTimeMs", 300)) / 1e3
    device = torch.device(spec.get("device", "cpu"))
    if device.type == "cuda":
        # As cudnn-gru's setting: FP32 maths by default, TF32 in both cuDNN and cuBLAS when asked.
        tf32 = bool(spec.get("tf32", False))
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        sync = torch.cuda.synchronize
    else:
        def sync():
            pass
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": {}}
    for c in spec["configs"]:
        B, T, I, H, L = c["batch"], c["seqLen"], c["inputSize"], c["hiddenSize"], c["numLayers"]
        D = 2 if c.get("bidirectional") else 1
        lstm = c.get("cell", "gru") == "lstm"
        net = CELLS[c.get("cell", "gru")](I, H, L, batch_first=True, bidirectional=D == 2).to(device)
        x = torch.randn(B, T, I, device=device)
        # The states entering (h0, and c0 for the LSTM) and the cotangents of the states leaving.
        states = [torch.randn(L * D, B, H, device=device) for _ in range(2 if lstm else 1)]
        dy = torch.randn(B, T, D * H, device=device)
        dStates = [torch.randn(L * D, B, H, device=device) for _ in states]

        def run(inp, st):
            y, final = net(inp, tuple(st) if lstm else st[0])
            return [y, *(final if lstm else [final])]

        def forward():
            with torch.no_grad():
                run(x, states)

        xg = x.clone().requires_grad_(True)
        statesg = [s.clone().requires_grad_(True) for s in states]
        adam = spec.get("adam")
        optimizer = (torch.optim.Adam(net.parameters(), lr=adam["lr"], betas=(adam["beta1"], adam["beta2"]), eps=adam["epsilon"])
                     if adam else None)

        def train():
            for p in [*net.parameters(), xg, *statesg]:
                p.grad = None
            torch.autograd.backward(run(xg, statesg), [dy, *dStates])
            if optimizer:
                optimizer.step()

        out["results"][c["name"]] = {"forwardMs": timed(forward, min_time, sync), "trainMs": timed(train, min_time, sync)}
    n = int(spec.get("gemm", 0))
    if n > 0:
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        c = torch.empty(n, n, device=device)
        out["gemmMs"] = timed(lambda: torch.mm(a, b, out=c), min_time, sync)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
