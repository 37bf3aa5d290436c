#!/usr/bin/env python3
"""MLA vs the joint baseline, 3 seeds, mean +- std, on the built-in data or any
`--data` source given after `--`.

Runs `mla-native train` for each method and seed, reads each run's test.json and
metrics.jsonl, and prints the Markdown table that BENCHMARKS.md holds.

    cargo build --release -p mla-native
    python3 bench/compare.py [--bin PATH] [--seeds 0 1 2] [--device cpu] [-- extra train flags]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

parser = argparse.ArgumentParser()
target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/mla-target"))
parser.add_argument("--bin", default=os.path.join(target, "release", "mla-native"))
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
parser.add_argument("--device", default="cpu")
parser.add_argument("--methods", nargs="+", default=["mla", "joint"])
parser.add_argument("extra", nargs="*", help="more flags for `mla-native train`")
args = parser.parse_args()


def run(method, seed, out):
    cmd = [args.bin, "train", "--quiet", "--method", method, "--seed", str(seed),
           "--device", args.device, "--out", out, *args.extra]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "test.json")) as f:
        test = json.load(f)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        epochs = [json.loads(line) for line in f if '"epoch"' in line]
    seconds = statistics.mean(e["seconds"] for e in epochs)
    return test, seconds


def fmt(xs, scale=100.0, digits=1):
    m = statistics.mean(xs) * scale
    s = (statistics.stdev(xs) * scale) if len(xs) > 1 else 0.0
    return f"{m:.{digits}f} ± {s:.{digits}f}"


results = {}
with tempfile.TemporaryDirectory() as tmp:
    for method in args.methods:
        for seed in args.seeds:
            out = os.path.join(tmp, f"{method}-{seed}")
            results.setdefault(method, []).append(run(method, seed, out))
            print(f"{method} seed {seed}: {results[method][-1][0]}", file=sys.stderr)

names = results[args.methods[0]][0][0]["modalities"]
print("| method | " + " | ".join(names) + " | fused | s / epoch |")
print("|---" * (len(names) + 3) + "|")
for method, runs in results.items():
    cells = [fmt([t["unimodal"][k] for t, _ in runs]) for k in range(len(names))]
    cells.append(fmt([t["fused"] for t, _ in runs]))
    cells.append(fmt([s for _, s in runs], scale=1.0, digits=3))
    print(f"| {method} | " + " | ".join(cells) + " |")
