"""Issue 17: does `mnist train --optimizer adam` train the MLP as PyTorch's Adam does?

The tutorial's MLP (784-128-64-10, ReLU), batch 100 (--batch), inputs x/255, a new shuffle every
epoch, validation on the 10,000 test digits, as `mnist train` does; weights Xavier-uniform
(U(±sqrt(6/(fan_in+fan_out))), `mnist train`'s default `--init xavier`) with zero biases, or
PyTorch's own default init (`--init torch`). Optimizers:
  torch   torch.optim.Adam (bias correction on m and v, eps added to sqrt(v_hat))
  mxnet   MXNet's Adam written out (as kernels/adam.wgsl: the correction folded into the rate,
          eps added to sqrt(v), i.e. eps · sqrt(1 - beta2^t) in PyTorch's terms)
  sgd     plain SGD, for the tutorial's lr 0.1
Prints the validation accuracy after each epoch for each (optimizer, lr, seed).

    python3 bench/adam_pytorch.py [--data DIR] [--epochs 3] [--lrs 0.001,0.002,0.003]
        [--seeds 42,1,2] [--optimizers torch,mxnet] [--init xavier|torch|FILE] [--batch 100]
"""
import argparse
import gzip
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn


def load(data, split):
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(os.path.join(data, f"{prefix}-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(os.path.join(data, f"{prefix}-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(x.astype(np.float32) / 255), torch.from_numpy(y.astype(np.int64))


def read_safetensors(path):
    """The f32 tensors of a safetensors file, by name (8-byte header length, JSON, data)."""
    import json
    import struct
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        a, b = t["data_offsets"]
        data = np.frombuffer(raw[8 + n + a:8 + n + b], np.float32).reshape(t["shape"])
        out[name] = torch.from_numpy(data.copy())
    return out


def mlp(init):
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                          nn.Linear(64, 10))
    if init.endswith(".safetensors"):
        # mnist's own initial weights: `mnist train --lr 1e-12 --epochs 1 --limit 100 --seed S
        # --save F` moves them by less than f32 can show.
        tensors = read_safetensors(init)
        with torch.no_grad():
            for name, m in zip(["fc1", "fc2", "fc3"], [model[0], model[2], model[4]]):
                m.weight.copy_(tensors[f"{name}_weight"])
                m.bias.copy_(tensors[f"{name}_bias"])
    elif init == "xavier":
        for m in model:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
    return model


class MxnetAdam(torch.optim.Optimizer):
    """MXNet's Adam (python/mxnet/optimizer.py + adam_update), no weight decay or clipping."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state["t"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["t"] += 1
                t = state["t"]
                lr = group["lr"] * math.sqrt(1 - b2**t) / (1 - b1**t)
                m, v, g = state["m"], state["v"], p.grad
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.sub_(lr * m / (v.sqrt() + group["eps"]))


def run(opt_name, lr, seed, epochs, init, data, batch=100):
    x, y, xt, yt = data
    torch.manual_seed(seed)
    model = mlp(init)
    if opt_name == "torch":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    elif opt_name == "mxnet":
        opt = MxnetAdam(model.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    accs = []
    for _ in range(epochs):
        order = torch.randperm(x.shape[0])
        for i in range(0, x.shape[0], batch):
            idx = order[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
        with torch.no_grad():
            accs.append((model(xt).argmax(1) == yt).float().mean().item())
    return accs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=os.environ.get("MNIST_DATA_DIR", "/work/shared/mnist"))
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lrs", default="0.001,0.002,0.003")
    p.add_argument("--seeds", default="42,1,2")
    p.add_argument("--optimizers", default="torch,mxnet")
    p.add_argument("--init", default="xavier",
                   help="xavier, torch, or a checkpoint whose weights to start from; with "
                   "{seed} in its name, one per seed")
    p.add_argument("--batch", type=int, default=100)
    a = p.parse_args()
    torch.set_num_threads(1)
    data = (*load(a.data, "train"), *load(a.data, "test"))
    print(f"torch {torch.__version__}, CPU, 1 thread, MLP 784-128-64-10, batch {a.batch}, "
          f"init {a.init}", flush=True)
    for opt_name in a.optimizers.split(","):
        for lr in map(float, a.lrs.split(",")):
            rows = []
            for seed in map(int, a.seeds.split(",")):
                t = time.perf_counter()
                init = a.init.replace("{seed}", str(seed))
                accs = run(opt_name, lr, seed, a.epochs, init, data, a.batch)
                rows.append(accs)
                print(f"{opt_name:5s} lr {lr:g} seed {seed}: " +
                      " / ".join(f"{100 * v:.2f}" for v in accs) +
                      f" %  ({time.perf_counter() - t:.1f} s)", flush=True)
            mean = np.mean(rows, axis=0)
            print(f"{opt_name:5s} lr {lr:g} mean of {len(rows)}: " +
                  " / ".join(f"{100 * v:.2f}" for v in mean) + " %", flush=True)


if __name__ == "__main__":
    main()
