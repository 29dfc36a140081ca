"""PyTorch side of the comparison: the tutorial's MLP and LeNet, trained with plain SGD
(lr 0.1, batch 100) on MNIST held on the device, as `mnist train` does. Reports samples/sec of
whole training steps (forward, cross-entropy, backward, update), after a warm-up, and which BLAS
library and how many threads the CPU runs used. Installs nothing.

    python3 bench/pytorch_compare.py [--device cpu|cuda] [--data DIR] [--seconds S] [--threads N]
    python3 bench/pytorch_compare.py --serve ...   (bench/compare.ts: trials on request)
    python3 bench/pytorch_compare.py --blas        (the BLAS line only)

--serve prints one `info {json}` line, then for each line `MODEL SECONDS [THREADS]` read from stdin
trains MODEL for at least SECONDS (on THREADS CPU threads, torch's and OpenBLAS's, when given) and
prints `result MODEL SAMPLES_PER_SEC STEPS SECONDS THREADS`, so that compare.ts can interleave its
own runs with these in one process's warm state.
"""
import argparse
import ctypes
import gzip
import json
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn as nn


def blas_info():
    """Which BLAS the process has loaded, from /proc/self/maps after a matrix product (Debian's
    python3-torch calls the system libblas.so.3, which is the slow reference BLAS unless an
    optimised one such as libopenblas0-pthread is installed), and its thread count."""
    torch.mm(torch.randn(64, 64), torch.randn(64, 64))
    config = torch.__config__.show()
    built = re.search(r"BLAS_INFO=(\w+)", config)
    paths = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if "/" in line else ""
                if re.search(r"blas|mkl|blis|atlas", os.path.basename(path), re.I):
                    real = os.path.realpath(path)
                    if real not in paths:
                        paths.append(real)
    except OSError:
        pass  # not Linux: only the build's BLAS_INFO is known
    kind = classify_blas(paths, built.group(1) if built else None)
    threads = None
    for path in paths:
        try:
            threads = ctypes.CDLL(path).openblas_get_num_threads()
            break
        except (OSError, AttributeError):
            continue
    return {"kind": kind, "libraries": paths, "threads": threads}


def classify_blas(paths, built):
    """The BLAS implementation behind the library `paths` a process maps (real paths), and the
    BLAS_INFO torch was built with: "OpenBLAS", "MKL", "BLIS", "ATLAS", "reference" or
    "unknown (...)"."""
    joined = " ".join(paths).lower()
    if "openblas" in joined:
        return "OpenBLAS"
    if "mkl" in joined or built == "mkl":
        return "MKL"
    if "blis" in joined:
        return "BLIS"
    if "atlas" in joined:
        return "ATLAS"
    if any(re.search(r"/libblas\.so", p) for p in paths):
        return "reference"  # Netlib's, e.g. /usr/lib/x86_64-linux-gnu/blas/libblas.so.3
    return f"unknown (built with BLAS_INFO={built or '?'})"


def set_threads(n, blas):
    """Runs torch's CPU ops and OpenBLAS on `n` threads; records OpenBLAS's count in `blas`."""
    torch.set_num_threads(n)
    for path in blas["libraries"]:
        try:
            ctypes.CDLL(path).openblas_set_num_threads(n)
            blas["threads"] = ctypes.CDLL(path).openblas_get_num_threads()
            return
        except (OSError, AttributeError):
            continue


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


class Trainer:
    """A model, its SGD and the data on `device`; `trial` times steps for at least `seconds`."""

    def __init__(self, model, x, y, device, batch=100):
        self.model = model.to(device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.loss_fn = nn.CrossEntropyLoss()
        self.x, self.y, self.device, self.batch = x, y, device, batch
        self.n = x.shape[0] // batch
        self.i = 0
        self.run(50)  # warm-up: allocator, kernels, caches

    def run(self, count):
        b = self.batch
        for _ in range(count):
            k = self.i % self.n
            self.i += 1
            xb = self.x[k * b:(k + 1) * b].float().div_(255)
            yb = self.y[k * b:(k + 1) * b]
            self.opt.zero_grad(set_to_none=True)
            self.loss_fn(self.model(xb), yb).backward()
            self.opt.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def trial(self, seconds):
        steps, start = 0, time.perf_counter()
        while True:
            self.run(10)
            steps += 10
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return steps * self.batch / elapsed, steps, elapsed


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--data", default=os.environ.get("MNIST_DATA_DIR", "../shared/mnist"))
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--serve", action="store_true")
    p.add_argument("--blas", action="store_true")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="CPU threads for torch and OpenBLAS (default: one per CPU)")
    a = p.parse_args()
    blas = blas_info()
    if a.blas:
        print(json.dumps(blas), flush=True)
        return
    device = torch.device(a.device)
    default_threads = torch.get_num_threads()
    if device.type == "cpu":
        set_threads(a.threads, blas)
    info = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "default_threads": default_threads,
        "blas": blas,
    }
    xs, ys = load_images(a.data)
    x = torch.from_numpy(xs.copy()).to(device)
    y = torch.from_numpy(ys.astype(np.int64)).to(device)
    torch.manual_seed(0)
    trainers = {"mlp": Trainer(mlp(), x, y, device), "lenet": Trainer(lenet(), x, y, device)}
    print("info " + json.dumps(info), flush=True)
    if not a.serve:
        for name, trainer in trainers.items():
            rate, steps, seconds = trainer.trial(a.seconds)
            print(f"pytorch {name}: {rate:,.0f} samples/sec ({device}, batch 100, {steps} steps)")
        return
    for line in sys.stdin:
        name, seconds, *threads = line.split()
        if threads and device.type == "cpu":
            set_threads(int(threads[0]), blas)
        rate, steps, elapsed = trainers[name].trial(float(seconds))
        print(f"result {name} {rate:.1f} {steps} {elapsed:.3f} {torch.get_num_threads()}",
              flush=True)


if __name__ == "__main__":
    main()
