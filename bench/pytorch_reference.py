#!/usr/bin/env python3
"""The models and training steps of `mla-native speed`, in PyTorch, timed the same way.

Same encoders, shared head, HGM projection (Eq. 3-5), optimizer (SGD, momentum 0.9,
weight decay 1e-4), batch and data shapes as `mla-native speed --model M --method X`:

  python3 bench/pytorch_reference.py --model av-cnn --method mla --threads 1 --json

Methods: mla (each modality in turn: forward, backward, HGM, optimizer step) and concat
(one forward of every encoder, concatenated features, one step). `bench/speed.sh` runs
this and mla-native side by side. Needs `pip install torch` (the CPU wheel suffices:
`pip install torch --index-url https://download.pytorch.org/whl/cpu` where that index is
reachable, else plain `pip install torch`). Not part of CI.
"""
import argparse
import json
import time

import torch
from torch import nn
import torch.nn.functional as F


class Cnn(nn.Module):
    """mla's `cnn` encoder: 3x3 convolutions (16, 32 channels, same padding, ReLU), a 2x2
    max pool between them, 4x4 adaptive average pool, linear, ReLU."""

    def __init__(self, c_in, d_out, channels=(16, 32), grid=4):
        super().__init__()
        convs, c = [], c_in
        for c_out in channels:
            convs.append(nn.Conv2d(c, c_out, 3, padding=1))
            c = c_out
        self.convs = nn.ModuleList(convs)
        self.grid = grid
        self.proj = nn.Linear(c * grid * grid, d_out)

    def forward(self, x):
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if i < last and x.shape[2] >= 2 and x.shape[3] >= 2:
                x = F.max_pool2d(x, 2, 2)
        x = F.adaptive_avg_pool2d(x, self.grid)
        return F.relu(self.proj(x.flatten(1)))


class Mlp(nn.Module):
    """mla's `mlp` encoder: 3 linear layers (hidden 128), ReLU after each."""

    def __init__(self, d_in, d_out, hidden=128, layers=3):
        super().__init__()
        widths = [d_in] + [hidden] * (layers - 1) + [d_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))

    def forward(self, x):
        for layer in self.layers:
            x = F.relu(layer(x))
        return x


class Block(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.norm1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(c_out)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = F.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class Resnet18(nn.Module):
    """mla's `resnet18` encoder: ResNet-18 of `width` on each of `frames` stacked frames,
    global average pool, mean over frames, linear, ReLU."""

    def __init__(self, c_in, d_out, width, frames):
        super().__init__()
        self.frames = frames
        self.stem = nn.Conv2d(c_in // frames, width, 7, 2, 3, bias=False)
        self.stem_norm = nn.BatchNorm2d(width)
        blocks, c = [], width
        for stage, c_out in enumerate([width, 2 * width, 4 * width, 8 * width]):
            for k in range(2):
                blocks.append(Block(c, c_out, 2 if stage > 0 and k == 0 else 1))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.proj = nn.Linear(8 * width, d_out)

    def forward(self, x):
        b, c, h, w = x.shape
        t = self.frames
        x = x.reshape(b * t, c // t, h, w)
        x = F.max_pool2d(F.relu(self.stem_norm(self.stem(x))), 3, 2, 1)
        x = self.blocks(x)
        x = F.adaptive_avg_pool2d(x, 1).reshape(b, t, -1).mean(1)
        return F.relu(self.proj(x))


def model_spec(name):
    """[(modality, input shape, encoder constructor(d_in_channels_or_dim, d_out))], classes."""
    if name == "av-cnn":
        return [("audio", (1, 100, 64), lambda d: Cnn(1, d)),
                ("image", (1, 28, 28), lambda d: Cnn(1, d))], 10
    if name == "mfeat-mlp":
        views = [("fou", 76), ("fac", 216), ("kar", 64), ("pix", 240), ("zer", 47), ("mor", 6)]
        return [(v, (n,), (lambda n: lambda d: Mlp(n, d))(n)) for v, n in views], 10
    if name in ("resnet18-w32", "resnet18-w64"):
        width = 32 if name.endswith("32") else 64
        return [("audio", (1, 100, 64), lambda d: Resnet18(1, d, width, 1)),
                ("visual", (9, 112, 112), lambda d: Resnet18(9, d, width, 3))], 6
    raise SystemExit(f"unknown model {name}")


class Hgm:
    """The RLS projection (Eq. 5): P <- P - (P h)(P h)^T / (alpha + h^T P h), then the
    head's weight gradient [C, s] becomes grad @ P (torch stores W as [C, s]); the first
    step uses the plain gradient."""

    def __init__(self, dim, alpha=0.1):
        self.p = torch.eye(dim)
        self.alpha = alpha
        self.steps = 0

    def apply(self, head, h_mean):
        ph = self.p @ h_mean
        self.p -= torch.outer(ph, ph) / (self.alpha + h_mean @ ph)
        if self.steps > 0:
            head.weight.grad = head.weight.grad @ self.p
        self.steps += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="av-cnn")
    ap.add_argument("--method", default="mla", choices=["mla", "concat"])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--feature-dim", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    spec, classes = model_spec(args.model)
    encoders = nn.ModuleList(make(args.feature_dim) for _, _, make in spec)
    heads = args.feature_dim * (1 if args.method == "mla" else len(spec))
    head = nn.Linear(heads, classes)
    model = nn.ModuleList([encoders, head]).train()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    hgm = Hgm(args.feature_dim)

    n = args.batch * (args.warmup + args.steps)
    inputs = [torch.rand((n,) + shape) - 0.5 for _, shape, _ in spec]
    labels = torch.arange(n) % classes

    def step(k):
        idx = torch.arange(k * args.batch, (k + 1) * args.batch)
        y = labels[idx]
        if args.method == "mla":
            for m, encoder in enumerate(encoders):
                opt.zero_grad(set_to_none=True)
                features = encoder(inputs[m][idx])
                loss = F.cross_entropy(head(features), y)
                loss.backward()
                hgm.apply(head, features.detach().mean(0))
                opt.step()
        else:
            opt.zero_grad(set_to_none=True)
            features = torch.cat([e(x[idx]) for e, x in zip(encoders, inputs)], 1)
            F.cross_entropy(head(features), y).backward()
            opt.step()

    for k in range(args.warmup):
        step(k)
    start = time.perf_counter()
    for k in range(args.warmup, args.warmup + args.steps):
        step(k)
    seconds = (time.perf_counter() - start) / args.steps
    report = {"framework": "pytorch", "version": torch.__version__, "model": args.model,
              "method": args.method, "device": "cpu", "threads": args.threads,
              "batch": args.batch, "steps": args.steps, "seconds_per_step": seconds}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.method} {args.model} on cpu ({args.threads} threads, batch {args.batch}): "
              f"{seconds:.4f} s per step ({args.steps} steps), torch {torch.__version__}")


if __name__ == "__main__":
    main()
