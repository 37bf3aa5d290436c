"""PyTorch's max pool on the shapes of examples/max_pool.rs (ResNet-18's stems: 3x3,
stride 2, padding 1), forward with the input tracked (the pool with indices that
training runs), best of ROUNDS.

    python3 bench/max_pool.py [ROUNDS [THREADS]]
"""
import sys
import time

import torch


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| input | forward ms |")
    print("|---|---:|")
    for shape in ((48, 32, 56, 56), (16, 32, 50, 32)):
        x = torch.randn(*shape, requires_grad=True)
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            y = torch.nn.functional.max_pool2d(x, 3, 2, 1)
            best = min(best, time.perf_counter() - start)
            del y
        print(f"| {list(shape)} | {best * 1e3:.2f} |")


if __name__ == "__main__":
    main()
