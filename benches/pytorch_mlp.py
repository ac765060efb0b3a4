"""Times the training steps of examples/mlp_step.rs in PyTorch, float64 and
float32.

A step: forward through Linear, ReLU, Linear, ReLU, Linear, cross-entropy,
backward, SGD with momentum 0.9 (zero_grad(set_to_none=True) first). Each MLP
is timed with 1 and with 2 threads, and each median is printed, in the format
of the Rust example with the thread count added:

    NAME MEDIAN ms (STEPS steps, T threads)

Usage: python benches/pytorch_mlp.py [seconds per MLP and thread count]
"""
import sys
import time

import torch

MLPS = [
    ("784-256-256-10_b128", [784, 256, 256, 10], 128),
    ("784-1024-1024-10_b256", [784, 1024, 1024, 10], 256),
    ("64-64-64-10_b32", [64, 64, 64, 10], 32),
]


def median_step(widths, batch, seconds, dtype):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(widths[0], widths[1]),
        torch.nn.ReLU(),
        torch.nn.Linear(widths[1], widths[2]),
        torch.nn.ReLU(),
        torch.nn.Linear(widths[2], widths[3]),
    ).to(dtype)
    sgd = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(batch, widths[0], dtype=dtype) * 2 - 1
    labels = torch.tensor([(i * 7) % widths[3] for i in range(batch)])
    times = []
    spent = 0.0
    step = 0
    while step < 5 or spent < seconds:
        start = time.perf_counter()
        sgd.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), labels)
        loss.backward()
        sgd.step()
        elapsed = time.perf_counter() - start
        spent += elapsed
        if step >= 3:
            times.append(elapsed)
        step += 1
    times.sort()
    return times[len(times) // 2], len(times)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    for dtype, suffix in ((torch.float64, "f64"), (torch.float32, "f32")):
        for name, widths, batch in MLPS:
            for threads in (1, 2):
                torch.set_num_threads(threads)
                median, steps = median_step(widths, batch, seconds / 2, dtype)
                print(f"{name}_{suffix} {median * 1e3:.6f} ms ({steps} steps, {threads} threads)")


if __name__ == "__main__":
    main()
