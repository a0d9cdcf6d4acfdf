#!/usr/bin/env python3
"""PyTorch training-loop timings for bench/fit.ts: nn.GRU / nn.LSTM / nn.RNN (tanh), batch_first,
+ nn.Linear(H, 1) on the last layer's final state, MSE loss, torch.optim.Adam, on the CPU.

Usage: python3 bench/torch_fit.py '<json>' where json = {"threads": 2, "minTimeMs": 400,
"batches": 4, "adam": {"lr", "beta1", "beta2", "epsilon"}, "configs": [{"name", "cell": "gru" |
"lstm" | "rnn", "batch", "seqLen", "inputSize", "hiddenSize", "numLayers"}, ...]}.
Prints one JSON object: {"torch": version, "threads": n, "results": {name: {"stepMs": [...],
"epochMs": [...]}}}. step: one optimizer step on one batch (zero_grad, forward, loss, backward,
step), as model.trainOnBatch; epoch: `batches` such steps over a shuffled data set (randperm,
index_select per batch), the losses summed on the device and read once at the end, as model.fit.
"""
import json
import sys

import torch

from torch_rnn import timed

CELLS = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM, "rnn": torch.nn.RNN}


class Net(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.lstm = c["cell"] == "lstm"
        self.rnn = CELLS[c["cell"]](c["inputSize"], c["hiddenSize"], c["numLayers"], batch_first=True)
        self.head = torch.nn.Linear(c["hiddenSize"], 1)

    def forward(self, x):
        _, final = self.rnn(x)
        h = final[0] if self.lstm else final
        return self.head(h[-1])


def main():
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(int(spec.get("threads", 2)))
    torch.manual_seed(0)
    min_time = float(spec.get("minTimeMs", 400)) / 1e3
    batches = int(spec.get("batches", 4))
    adam = spec["adam"]
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": {}}
    for c in spec["configs"]:
        B, T, I = c["batch"], c["seqLen"], c["inputSize"]
        net = Net(c)
        optimizer = torch.optim.Adam(net.parameters(), lr=adam["lr"], betas=(adam["beta1"], adam["beta2"]), eps=adam["epsilon"])
        loss_fn = torch.nn.MSELoss()
        x = torch.randn(batches * B, T, I)
        y = torch.randn(batches * B, 1)

        def step(xb, yb):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(xb), yb)
            loss.backward()
            optimizer.step()
            return loss.detach()

        def epoch():
            perm = torch.randperm(batches * B)
            total = torch.zeros(())
            for i in range(batches):
                idx = perm[i * B:(i + 1) * B]
                total += step(x.index_select(0, idx), y.index_select(0, idx))
            total.item()

        xb, yb = x[:B].contiguous(), y[:B].contiguous()
        out["results"][c["name"]] = {
            "stepMs": timed(lambda: step(xb, yb), min_time, lambda: None),
            "epochMs": timed(epoch, min_time, lambda: None, min_reps=3),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
