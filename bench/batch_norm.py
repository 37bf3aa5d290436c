"""PyTorch's side of examples/batch_norm.rs: a training BatchNorm2d (batch statistics)
and its ReLU on the CPU, forward and backward (timed as forward + backward from a
gradient of ones, less the forward; best of ROUNDS), on each shape of a ResNet-18-w64 step at the CREMA-D shapes,
as a Markdown table with the sum of each shape times its count in the step.

    python3 bench/batch_norm.py [ROUNDS] [THREADS]      (pip install torch)
"""
import sys
import time

import torch

# (input shape, batch norms of that shape in one step)
SHAPES = [
    ((48, 64, 56, 56), 1),
    ((48, 64, 28, 28), 4),
    ((48, 128, 14, 14), 5),
    ((48, 256, 7, 7), 5),
    ((48, 512, 4, 4), 5),
    ((16, 64, 50, 32), 1),
    ((16, 64, 25, 16), 4),
    ((16, 128, 13, 8), 5),
    ((16, 256, 7, 4), 5),
    ((16, 512, 4, 2), 5),
]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| input | count | forward ms | backward ms |")
    print("|---|---:|---:|---:|")
    total = [0.0, 0.0]
    for shape, count in SHAPES:
        layer = torch.nn.Sequential(torch.nn.BatchNorm2d(shape[1]), torch.nn.ReLU()).train()
        x = torch.randn(*shape) * 2.0 + 0.5
        best = [float("inf")] * 2
        for _ in range(rounds):
            xr = x.clone().requires_grad_(True)
            t = time.perf_counter()
            layer(xr)
            forward = time.perf_counter() - t
            t = time.perf_counter()
            y = layer(xr)
            y.backward(torch.ones_like(y))
            both = time.perf_counter() - t
            best = [min(best[0], forward), min(best[1], both - forward)]
        f, b = (v * 1e3 for v in best)
        total[0] += f * count
        total[1] += b * count
        print(f"| {list(shape)} | {count} | {f:.2f} | {b:.2f} |")
    print(f"| all, times their counts | | {total[0]:.1f} | {total[1]:.1f} |")


if __name__ == "__main__":
    main()
