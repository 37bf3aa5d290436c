"""PyTorch's side of examples/conv_layers.rs: one nn.Conv2d layer at a time on the CPU,
forward, and forward + the gradients of its input and weight (best of ROUNDS), on the
same shapes, as a Markdown table.

    python3 bench/conv_layers.py [ROUNDS] [THREADS]      (pip install torch)
"""
import sys
import time

import torch

LAYERS = [
    (48, 32, 32, 28, 3, 1),
    (48, 64, 64, 14, 3, 1),
    (16, 32, 32, 56, 3, 1),
    (64, 1, 16, 28, 3, 1),
    (64, 16, 32, 14, 3, 1),
]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| layer | forward ms | forward + backward ms |")
    print("|---|---:|---:|")
    for b, ci, co, side, k, p in LAYERS:
        conv = torch.nn.Conv2d(ci, co, k, padding=p, bias=False)
        x = torch.randn(b, ci, side, side)
        fwd, both = float("inf"), float("inf")
        for _ in range(rounds):
            with torch.no_grad():
                t = time.perf_counter()
                conv(x)
                fwd = min(fwd, time.perf_counter() - t)
            xr = x.clone().requires_grad_()
            conv.zero_grad()
            t = time.perf_counter()
            conv(xr).sum().backward()
            both = min(both, time.perf_counter() - t)
        print(f"| {b} x {ci}->{co}, {side}x{side}, {k}x{k} | {fwd * 1e3:.2f} | {both * 1e3:.2f} |")


if __name__ == "__main__":
    main()
