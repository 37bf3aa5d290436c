#!/usr/bin/env bash
# mla-native against PyTorch on the same models, steps, batch and thread count, side by
# side in one run (BENCHMARKS.md, "Speed"): for each model and thread count, the two
# run one after the other, and the table gives seconds per step and the ratio
# (PyTorch's time / mla-native's: above 1, mla-native is faster).
#
#   bash bench/speed.sh [OUT]          OUT default runs/bench-speed (speed.jsonl, speed.md)
#
# Then feature extraction by the frozen pretrained encoders (MobileNetV2 images and
# MiniLM texts per second, `mla-native encoders speed` against bench/pytorch_extraction.py
# on the same weight files) into extraction.md; EXTRACTION=0 skips it, SIZES (default
# "96 160 224") and TOKENS (default "16 64") pick the rows.
#
# Settings through the environment: MODELS (default "av-cnn mfeat-mlp resnet18-w32
# resnet18-w64"), METHODS (default "mla concat"), THREADS (default "1 <all cores>"),
# STEPS (default 10; 3 for ResNet-18), RESNET_BATCH (default 16; 64 for the others), ROUNDS
# (default 3).
# Needs mla-native built (MLA_NATIVE, default $CARGO_TARGET_DIR/release/mla-native) and
# PyTorch (PYTHON, default python3; bench/pytorch_reference.py says how to install it).
# Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/bench-speed}
bin=${MLA_NATIVE:-${CARGO_TARGET_DIR:-target}/release/mla-native}
python=${PYTHON:-python3}
models=${MODELS:-av-cnn mfeat-mlp resnet18-w32 resnet18-w64}
methods=${METHODS:-mla concat}
threads=${THREADS:-1 $(nproc)}
mkdir -p "$out"
: >"$out/speed.jsonl"
for model in $models; do
  batch=64 steps=${STEPS:-10}
  case $model in resnet18-*) batch=${RESNET_BATCH:-16} steps=${STEPS:-3} ;; esac
  for t in $threads; do
    for method in $methods; do
      args=(--model "$model" --method "$method" --batch "$batch" --steps "$steps" --json)
      for _ in $(seq "${ROUNDS:-3}"); do
        "$bin" speed --threads "$t" "${args[@]}" | tee -a "$out/speed.jsonl"
        "$python" bench/pytorch_reference.py --threads "$t" "${args[@]}" | tee -a "$out/speed.jsonl"
      done
    done
  done
done
"$python" - "$out/speed.jsonl" >"$out/speed.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
method = lambda r: "concat" if r["method"] in ("joint", "concat") else r["method"]
key = lambda r: (r["model"], r["threads"], method(r), r["batch"])
# Each framework's fastest run of a row.
mla, torch = {}, {}
for r in rows:
    best = mla if r["framework"] == "mla" else torch
    if key(r) not in best or r["seconds_per_step"] < best[key(r)]["seconds_per_step"]:
        best[key(r)] = r
version = next((r["version"] for r in rows if r["framework"] == "pytorch"), "?")
print(f"| model | method | threads | batch | mla-native s/step | PyTorch {version} s/step | ratio |")
print("|---|---|---:|---:|---:|---:|---:|")
for k, a in mla.items():
    b = torch.get(k)
    if b is None:
        continue
    ratio = b["seconds_per_step"] / a["seconds_per_step"]
    print(f"| {k[0]} | {k[2]} | {k[1]} | {k[3]} | {a['seconds_per_step']:.4f} | "
          f"{b['seconds_per_step']:.4f} | {ratio:.2f} |")
overhead = {}
for (model, t, m, batch), r in mla.items():
    other = mla.get((model, t, "concat" if m == "mla" else "mla", batch))
    if m == "mla" and other:
        overhead[(model, t)] = r["seconds_per_step"] / other["seconds_per_step"] - 1
if overhead:
    print("\nMLA's step against Concat's (mla-native): " + ", ".join(
        f"{m} {t} thread(s) {100 * o:+.0f}%" for (m, t), o in overhead.items()))
PY
cat "$out/speed.md"

[ "${EXTRACTION:-1}" = 0 ] && exit 0
"$python" - "$bin" "$python" "$out" "${SIZES:-96 160 224}" "${TOKENS:-16 64}" "$threads" <<'PY'
import json, re, subprocess, sys
bin, python, out, sizes, tokens, threads = sys.argv[1:7]
sizes, tokens, threads = sizes.split(), tokens.split(), threads.split()
rows = []
for t in threads:
    # One run per image size (the text row at the first token count), then the other
    # token counts.
    runs = [(s, tokens[0]) for s in sizes] + [(sizes[0], k) for k in tokens[1:]]
    for s, k in runs:
        ours = subprocess.run([bin, "encoders", "speed", "--threads", t, "--image-size", s,
                               "--tokens", k], capture_output=True, text=True, check=True).stdout
        mla = {m.group(1): float(m.group(2)) for m in
               re.finditer(r"^(\w+)\s+cpu:\s+([\d.]+)", ours, re.M)}
        theirs = subprocess.run([python, "bench/pytorch_extraction.py", "--threads", t,
                                 "--image-size", s, "--tokens", k, "--json"],
                                capture_output=True, text=True, check=True).stdout
        torch = {r["net"]: r for r in map(json.loads, theirs.strip().splitlines())}
        for net, size in (("mobilenet_v2", s), ("minilm_l6", k)):
            if any(r["net"] == net and r["size"] == size and r["threads"] == t for r in rows):
                continue
            rows.append({"net": net, "size": size, "threads": t, "mla": mla[net],
                         "pytorch": torch[net]["per_second"], "version": torch[net]["version"]})
with open(f"{out}/extraction.jsonl", "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
lines = [f"| encoder | input | threads | mla-native per s | PyTorch {rows[0]['version']} per s | ratio |",
         "|---|---|---:|---:|---:|---:|"]
for r in rows:
    unit = f"{r['size']} px" if r["net"] == "mobilenet_v2" else f"{r['size']} tokens"
    lines.append(f"| {r['net']} | {unit} | {r['threads']} | {r['mla']:.1f} | {r['pytorch']:.1f} | "
                 f"{r['mla'] / r['pytorch']:.2f} |")
open(f"{out}/extraction.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
