#!/usr/bin/env python3
"""MLA's own cost against Concat's on the same encoders (BENCHMARKS.md, "Speed"): the
alternation (a forward, backward and optimizer step per modality) and HGM.

Two measurements, with the two methods interleaved so that a slow spell of the machine
hits both:

- a training step, for each model and thread count: `mla-native speed --method mla
  --against concat --rounds R`, one process timing R rounds of S steps of each method in
  turn (synthetic data of the model's shapes); the ratio is the median over the rounds
  of MLA's time over Concat's in the same round;
- an epoch on real data, when a data source is given with --epoch-data (e.g.
  mfeat:../shared/data/mfeat): `mla-native speed --data SOURCE --against concat`, the
  same pairing with one epoch per round (its batches and its validation pass, after an
  untimed epoch), the data set's default model.

    cargo build --release -p mla-native
    python3 bench/mla_overhead.py [--bin PATH] [--models mfeat-mlp av-cnn resnet18-w32]
        [--threads 1 2] [--rounds 100] [--epoch-data mfeat:DIR] [--epoch-rounds 60]
        [--out runs/bench-overhead]

Prints a Markdown table (also written to OUT/overhead.md). Not part of CI.
"""
import argparse
import json
import os
import subprocess
import sys

target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/mla-target"))
parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--bin", default=os.path.join(target, "release", "mla-native"))
parser.add_argument("--models", nargs="+", default=["mfeat-mlp", "av-cnn", "resnet18-w32"])
parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
parser.add_argument("--rounds", type=int, default=100,
                    help="rounds of steps on mfeat-mlp (the CNNs: a tenth, at least 3)")
parser.add_argument("--epoch-data", help="a --data source to time epochs on")
parser.add_argument("--epoch-rounds", type=int, default=60, help="epochs timed per method")
parser.add_argument("--out", default="runs/bench-overhead")
args = parser.parse_args()


def run(cmd):
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return done.stdout


# (steps per round, batch) by model: rounds of a fraction of a second to a few seconds.
SHAPES = {"mfeat-mlp": (50, 64), "av-cnn": (3, 64), "resnet18-w32": (1, 16), "resnet18-w64": (1, 16)}


def paired(what, threads, rounds, flags):
    report = json.loads(run([args.bin, "--threads", str(threads), "speed", "--method", "mla",
                             "--against", "concat", "--rounds", str(rounds), "--json", *flags]))
    other = report["against"]
    unit = "seconds_per_epoch" if report["per"] == "epoch" else "seconds_per_step"
    timed = (f"{rounds} epochs" if report["per"] == "epoch"
             else f"{rounds} rounds of {report['steps']} steps")
    return (f"| {what} (batch {report['batch']}) | {threads} | {1e3 * report[unit]:.2f} | "
            f"{1e3 * other[unit]:.2f} | {100 * (other['ratio'] - 1):+.1f}% | {timed} |")


rows = []
for model in args.models:
    steps, batch = SHAPES[model]
    rounds = args.rounds if model == "mfeat-mlp" else max(args.rounds // 10, 3)
    for threads in args.threads:
        flags = ["--model", model, "--steps", str(steps), "--batch", str(batch)]
        rows.append(paired(f"step, `{model}`", threads, rounds, flags))
        print(rows[-1], flush=True)
if args.epoch_data:
    for threads in args.threads:
        name = args.epoch_data.split(":")[0]
        rows.append(paired(f"epoch, `{name}`", threads, args.epoch_rounds,
                           ["--data", args.epoch_data]))
        print(rows[-1], flush=True)

table = "\n".join([
    "| what | threads | MLA ms (median) | Concat ms (median) "
    "| MLA vs Concat (median of the rounds' ratios) | timed |",
    "|---|---:|---:|---:|---:|---|",
    *rows,
])
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "overhead.md"), "w") as f:
    f.write(table + "\n")
print("\n" + table)
