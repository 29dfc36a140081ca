"""PyTorch side of the comparison: the tutorial's MLP and LeNet, trained with plain SGD
(lr 0.1, batch 100) on MNIST held on the device, as `mnist train` does. Prints samples/sec of
whole training steps (forward, cross-entropy, backward, update), after a warm-up.

    python3 bench/pytorch_compare.py [--device cpu|cuda] [--data DIR] [--steps N]
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
import torch.nn as nn


def load_images(data):
    with gzip.open(os.path.join(data, "train-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(data, "train-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return x, y


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64),
                         nn.ReLU(), nn.Linear(64, 10))


def lenet():
    return nn.Sequential(nn.Conv2d(1, 20, 5), nn.Tanh(), nn.MaxPool2d(2, 2), nn.Conv2d(20, 50, 5),
                         nn.Tanh(), nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(800, 500),
                         nn.Tanh(), nn.Linear(500, 10))


def bench(name, model, x, y, device, steps, batch=100):
    """Times `steps` SGD steps after a warm-up; the data is already on `device`."""
    model = model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    n = x.shape[0] // batch

    def run(count, start):
        for i in range(start, start + count):
            b = i % n
            xb = x[b * batch:(b + 1) * batch].float().div_(255)
            yb = y[b * batch:(b + 1) * batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xb), yb).backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    run(min(50, steps), 0)
    t = time.perf_counter()
    run(steps, 50)
    seconds = time.perf_counter() - t
    print(f"pytorch {name}: {steps * batch / seconds:,.0f} samples/sec "
          f"({device}, batch {batch}, {steps} steps)", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--data", default=os.environ.get("MNIST_DATA_DIR", "../shared/mnist"))
    p.add_argument("--steps", type=int, default=600)
    a = p.parse_args()
    device = torch.device(a.device)
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    xs, ys = load_images(a.data)
    x = torch.from_numpy(xs.copy()).to(device)
    y = torch.from_numpy(ys.astype(np.int64)).to(device)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}", flush=True)
    bench("mlp", mlp(), x, y, device, a.steps)
    bench("lenet", lenet(), x, y, device, a.steps)


if __name__ == "__main__":
    main()
