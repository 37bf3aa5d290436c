#!/usr/bin/env python3
"""Floating-point operations of one training step of ResNet-18 MLA/Concat at the speed
comparison's shapes (`mla-native speed --model resnet18-w32|resnet18-w64`), counted
from the architecture of `src/model/resnet.rs`: 2 per multiply-add of every convolution
and linear layer (batch norm, ReLU, pooling and the optimizer left out: under 2%).
A training step is the forward pass and the backward pass, which costs twice the
forward (the input gradient and the weight gradient of each layer), so 3x the forward;
the first convolution's input gradient is not computed, which the count takes off.

    python3 bench/resnet_flops.py [--width 64] [--batch 16]
"""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--width", type=int, default=64)
parser.add_argument("--batch", type=int, default=16)
parser.add_argument("--feature", type=int, default=128, help="model.feature_dim")
args = parser.parse_args()


def out(size, kernel, stride, pad):
    return (size + 2 * pad - kernel) // stride + 1


def resnet18(c_in, h, w, width, feature):
    """(forward multiply-adds, of which the first convolution's) for one image."""
    macs = []
    h, w = out(h, 7, 2, 3), out(w, 7, 2, 3)
    macs.append(width * c_in * 49 * h * w)
    stem = macs[0]
    h, w = out(h, 3, 2, 1), out(w, 3, 2, 1)
    c = width
    for stage in range(4):
        c_out = width * 2 ** stage
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            h2, w2 = out(h, 3, stride, 1), out(w, 3, stride, 1)
            macs.append(c_out * c * 9 * h2 * w2)
            macs.append(c_out * c_out * 9 * h2 * w2)
            if stride != 1 or c != c_out:
                macs.append(c_out * c * h2 * w2)
            c, h, w = c_out, h2, w2
    macs.append(c * feature)
    return sum(macs), stem


# The CREMA-D shapes: a 1x100x64 filterbank; 3 RGB 112x112 frames, each through the trunk.
audio, audio_stem = resnet18(1, 100, 64, args.width, args.feature)
frame, frame_stem = resnet18(3, 112, 112, args.width, args.feature)
visual, visual_stem = 3 * frame, 3 * frame_stem
forward = 2 * (audio + visual) * args.batch
step = 3 * forward - 2 * (audio_stem + visual_stem) * args.batch
print(f"width {args.width}, batch {args.batch}: forward {forward / 1e9:.1f} GFLOP "
      f"(audio {2 * audio * args.batch / 1e9:.1f}, visual {2 * visual * args.batch / 1e9:.1f}), "
      f"training step {step / 1e9:.1f} GFLOP")
