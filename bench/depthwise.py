"""PyTorch's depthwise 3x3 convolutions on the layers of examples/depthwise.rs
(MobileNetV2's, batch 32, one image size), forward without autograd as extraction runs
them, best of ROUNDS, and the sum over the network with each layer's count.

    python3 bench/depthwise.py [ROUNDS [IMAGE_SIZE [THREADS]]]
"""
import sys
import time

import torch

STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1)]


def layers(size):
    side, c_in, out = (size + 1) // 2, 32, []
    for t, c, n, s in STAGES:
        for k in range(n):
            stride = s if k == 0 else 1
            hidden = c_in * t
            if out and out[-1][:3] == [hidden, side, stride]:
                out[-1][3] += 1
            else:
                out.append([hidden, side, stride, 1])
            side = (side - 1) // stride + 1
            c_in = c
    return out


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 96
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| channels | input | stride | count | forward ms |")
    print("|---:|---|---:|---:|---:|")
    total = 0.0
    with torch.no_grad():
        for c, side, stride, count in layers(size):
            x = torch.randn(32, c, side, side)
            w = torch.randn(c, 1, 3, 3) * 0.3
            best = float("inf")
            for _ in range(rounds):
                start = time.perf_counter()
                y = torch.nn.functional.conv2d(x, w, None, stride, 1, 1, c)
                best = min(best, time.perf_counter() - start)
                del y
            total += best * count
            print(f"| {c} | {side} x {side} | {stride} | {count} | {best * 1e3:.3f} |")
    print(f"| all | | | | {total * 1e3:.2f} |")


if __name__ == "__main__":
    main()
