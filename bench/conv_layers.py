"""PyTorch's side of examples/conv_layers.rs: one nn.Conv2d layer at a time on the CPU,
forward, input gradient and weight gradient (each timed as forward + it, less the
forward; best of ROUNDS), on the same list of layers (every convolution of a
ResNet-18-w32 step at the CREMA-D shapes, and of the av-cnn step), as a Markdown table
with the sum of each layer times its count in the step.

    python3 bench/conv_layers.py [ROUNDS] [THREADS]      (pip install torch)

WIDTH=64 in the environment scales the ResNet layers' channels to ResNet-18-w64 (default 32).
"""
import os
import sys
import time

import torch

# (name, count in one step, batch, c_in, c_out, (h, w), kernel, stride, padding)
LAYERS = [
    ("visual stem", 1, 48, 3, 32, (112, 112), 7, 2, 3),
    ("visual stage 1", 4, 48, 32, 32, (28, 28), 3, 1, 1),
    ("visual stage 2 in", 1, 48, 32, 64, (28, 28), 3, 2, 1),
    ("visual stage 2 shortcut", 1, 48, 32, 64, (28, 28), 1, 2, 0),
    ("visual stage 2", 3, 48, 64, 64, (14, 14), 3, 1, 1),
    ("visual stage 3 in", 1, 48, 64, 128, (14, 14), 3, 2, 1),
    ("visual stage 3 shortcut", 1, 48, 64, 128, (14, 14), 1, 2, 0),
    ("visual stage 3", 3, 48, 128, 128, (7, 7), 3, 1, 1),
    ("visual stage 4 in", 1, 48, 128, 256, (7, 7), 3, 2, 1),
    ("visual stage 4 shortcut", 1, 48, 128, 256, (7, 7), 1, 2, 0),
    ("visual stage 4", 3, 48, 256, 256, (4, 4), 3, 1, 1),
    ("audio stem", 1, 16, 1, 32, (100, 64), 7, 2, 3),
    ("audio stage 1", 4, 16, 32, 32, (25, 16), 3, 1, 1),
    ("audio stage 2 in", 1, 16, 32, 64, (25, 16), 3, 2, 1),
    ("audio stage 2 shortcut", 1, 16, 32, 64, (25, 16), 1, 2, 0),
    ("audio stage 2", 3, 16, 64, 64, (13, 8), 3, 1, 1),
    ("audio stage 3 in", 1, 16, 64, 128, (13, 8), 3, 2, 1),
    ("audio stage 3", 3, 16, 128, 128, (7, 4), 3, 1, 1),
    ("audio stage 4 in", 1, 16, 128, 256, (7, 4), 3, 2, 1),
    ("audio stage 4", 3, 16, 256, 256, (4, 2), 3, 1, 1),
    ("av-cnn audio 2", 1, 64, 16, 32, (50, 32), 3, 1, 1),
    ("av-cnn image 1", 1, 64, 1, 16, (28, 28), 3, 1, 1),
    ("av-cnn image 2", 1, 64, 16, 32, (14, 14), 3, 1, 1),
]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| layer | count | shape | forward ms | input gradient ms | weight gradient ms |")
    print("|---|---:|---|---:|---:|---:|")
    total = [0.0, 0.0, 0.0]
    width = int(os.environ.get("WIDTH", "32"))
    for name, count, b, ci, co, (h, w), k, s, p in LAYERS:
        if not name.startswith("av-cnn"):
            ci, co = (ci if name.endswith("stem") else ci * width // 32), co * width // 32
        stem = name.endswith("stem")
        conv = torch.nn.Conv2d(ci, co, k, stride=s, padding=p, bias=False)
        x = torch.randn(b, ci, h, w)
        best = [float("inf")] * 3
        for _ in range(rounds):
            with torch.no_grad():
                t = time.perf_counter()
                conv(x)
                times = [time.perf_counter() - t]
            # Forward + the input's gradient (weight frozen), then + the weight's.
            for track_x in (True, False):
                if track_x and stem:
                    times.append(0.0)
                    continue
                conv.weight.requires_grad_(not track_x)
                conv.zero_grad()
                xr = x.clone().requires_grad_(track_x)
                t = time.perf_counter()
                conv(xr).sum().backward()
                times.append(time.perf_counter() - t)
            best = [min(a, b) for a, b in zip(best, times)]
        f, fx, fw = (v * 1e3 for v in best)
        dx = 0.0 if stem else fx - f
        for i, v in enumerate((f, dx, fw - f)):
            total[i] += v * count
        print(f"| {name} | {count} | {b} x {ci}->{co}, {h}x{w}, {k}x{k} /{s} | {f:.2f} | {dx:.2f} | {fw - f:.2f} |")
    print(f"| all, times their counts | | | {total[0]:.1f} | {total[1]:.1f} | {total[2]:.1f} |")
    print(f"\ntotal {sum(total):.1f} ms")


if __name__ == "__main__":
    main()
