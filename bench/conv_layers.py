"""PyTorch's side of examples/conv_layers.rs: one nn.Conv2d layer at a time on the CPU,
forward, input gradient and weight gradient (each timed as forward + it, less the
forward; best of ROUNDS), on the
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
    (16, 64, 64, 28, 3, 1),
    (16, 128, 128, 14, 3, 1),
    (64, 1, 16, 28, 3, 1),
    (64, 16, 32, 14, 3, 1),
]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| layer | forward ms | input gradient ms | weight gradient ms |")
    print("|---|---:|---:|---:|")
    for b, ci, co, side, k, p in LAYERS:
        conv = torch.nn.Conv2d(ci, co, k, padding=p, bias=False)
        x = torch.randn(b, ci, side, side)
        best = [float("inf")] * 3
        for _ in range(rounds):
            with torch.no_grad():
                t = time.perf_counter()
                conv(x)
                times = [time.perf_counter() - t]
            # Forward + the input's gradient (weight frozen), then + the weight's.
            for track_x in (True, False):
                conv.weight.requires_grad_(not track_x)
                conv.zero_grad()
                xr = x.clone().requires_grad_(track_x)
                t = time.perf_counter()
                conv(xr).sum().backward()
                times.append(time.perf_counter() - t)
            best = [min(a, b) for a, b in zip(best, times)]
        f, fx, fw = (v * 1e3 for v in best)
        print(f"| {b} x {ci}->{co}, {side}x{side}, {k}x{k} | {f:.2f} | {fx - f:.2f} | {fw - f:.2f} |")

if __name__ == "__main__":
    main()
