#!/usr/bin/env python3
"""MLA vs the joint baseline, 3 seeds, mean +- std, on the built-in data or any
`--data` source given after `--`.

Runs `mla-native train` for each method and seed (`--jobs` at a time), reads each run's
test.json and metrics.jsonl, and prints the Markdown table that BENCHMARKS.md holds.
`--from DIR` only reads runs already in DIR/<method>-<seed>/ (made by `--keep DIR`, or
by bench/av_digits_grid.sh on another machine).

    cargo build --release -p mla-native
    python3 bench/compare.py [--bin PATH] [--seeds 0 1 2] [--device cpu] [--jobs N]
                             [--keep DIR | --from DIR] [-- extra train flags]
"""
import argparse
import concurrent.futures
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
parser.add_argument("--jobs", type=int, default=1, help="runs at the same time")
parser.add_argument("--keep", help="write the runs here instead of a temporary folder")
parser.add_argument("--from", dest="source", help="read finished runs from here; train nothing")
parser.add_argument("extra", nargs="*", help="more flags for `mla-native train`")
args = parser.parse_args()


def train(method, seed, out):
    cmd = [args.bin, "train", "--quiet", "--method", method, "--seed", str(seed),
           "--device", args.device, "--out", out, *args.extra]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def read(out):
    with open(os.path.join(out, "test.json")) as f:
        test = json.load(f)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        epochs = [json.loads(line) for line in f if '"epoch"' in line]
    seconds = statistics.mean(e["seconds"] for e in epochs)
    return test, seconds, len(epochs)


def fmt(xs, scale=100.0, digits=1):
    m = statistics.mean(xs) * scale
    s = (statistics.stdev(xs) * scale) if len(xs) > 1 else 0.0
    return f"{m:.{digits}f} ± {s:.{digits}f}"


grid = [(m, s) for m in args.methods for s in args.seeds]
with tempfile.TemporaryDirectory() as tmp:
    root = args.source or args.keep or tmp
    if not args.source:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            done = {pool.submit(train, m, s, os.path.join(root, f"{m}-{s}")): (m, s) for m, s in grid}
            for f in concurrent.futures.as_completed(done):
                f.result()
                print(f"{done[f][0]} seed {done[f][1]} done", file=sys.stderr)
    results = {}
    for m, s in grid:
        results.setdefault(m, []).append(read(os.path.join(root, f"{m}-{s}")))

names = results[args.methods[0]][0][0]["modalities"]
epochs = sorted({n for runs in results.values() for _, _, n in runs})
print(f"epochs: {', '.join(map(str, epochs))}; seeds: {' '.join(map(str, args.seeds))}")
print("| method | " + " | ".join(names) + " | fused | s / epoch |")
print("|---" * (len(names) + 3) + "|")
for method, runs in results.items():
    cells = [fmt([t["unimodal"][k] for t, _, _ in runs]) for k in range(len(names))]
    cells.append(fmt([t["fused"] for t, _, _ in runs]))
    cells.append(fmt([s for _, s, _ in runs], scale=1.0, digits=3))
    print(f"| {method} | " + " | ".join(cells) + " |")
