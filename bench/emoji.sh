#!/usr/bin/env bash
# The emoji benchmarks of BENCHMARKS.md ("Pretrained encoders"):
#  1. the text encoder trained from scratch (first version and now) against a TF-IDF
#     logistic regression on the emoji names, on 3 splits (data seeds 0-2);
#  2. MLA, Concat, Late fusion and QMF with encoders from scratch and with the pretrained
#     ones, 3 seeds each (mla-native bench).
#
#   bash bench/emoji.sh PACKAGE_DIR [OUT]     PACKAGE_DIR: emoji-datasource-google's
#                                            package/ folder; OUT default runs/bench-emoji
#
# Needs mla-native built (MLA_NATIVE, default $CARGO_TARGET_DIR/release/mla-native),
# the encoder files (mla-native encoders import) and scikit-learn for
# bench/text_baseline.py (PYTHON, default python3). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=${1:?usage: bench/emoji.sh PACKAGE_DIR [OUT]}
out=${2:-runs/bench-emoji}
bin=${MLA_NATIVE:-${CARGO_TARGET_DIR:-target}/release/mla-native}
python=${PYTHON:-python3}
train="--epochs 30 --lr 0.05"
mkdir -p "$out"
[ -f "$out/emoji/emoji.csv" ] || "$bin" sample --emoji "$pkg" --out "$out/emoji"
csv="$out/emoji/emoji.csv"

# The first version of the scratch text encoder, as a configuration.
cat >"$out/text-v1.toml" <<'TOML'
[model]
feature_dim = 64
encoders = [{ type = "cnn" }, { type = "text", init_std = 1.0, embedding_scale = 1.0, skip_unknown = false, pooling = "mean" }]
TOML
for s in 0 1 2; do
  for v in now v1; do
    dir="$out/text-$v-split$s"
    config=()
    [ "$v" = v1 ] && config=(--config "$out/text-v1.toml")
    [ -f "$dir/test.json" ] || "$bin" train "${config[@]}" --manifest "$csv" --data-seed "$s" $train \
      --out "$dir" --quiet >/dev/null
  done
  "$python" bench/text_baseline.py --manifest "$csv" --column name --run "$out/text-now-split$s" \
    >"$out/tfidf-split$s.json"
done
"$python" - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
rows = {"scratch text encoder, first version": "text-v1", "scratch text encoder, now": "text-now"}
print("| emoji names, test accuracy % | split 0 | split 1 | split 2 | mean |")
print("|---|---:|---:|---:|---:|")
for name, run in rows.items():
    a = [100 * json.load(open(f"{out}/{run}-split{s}/test.json"))["unimodal"][1] for s in range(3)]
    print(f"| {name} (MLA, its text modality) | " + " | ".join(f"{x:.1f}" for x in a) + f" | {statistics.mean(a):.1f} |")
a = [100 * json.load(open(f"{out}/tfidf-split{s}.json"))["test"] for s in range(3)]
print("| TF-IDF logistic regression (C on validation) | " + " | ".join(f"{x:.1f}" for x in a) + f" | {statistics.mean(a):.1f} |")
PY

for kind in scratch pretrained; do
  extra=()
  [ "$kind" = pretrained ] && extra=(--pretrained)
  "$bin" bench --data "manifest:$csv" --methods mla,concat,late,qmf --seeds 3 --jobs 2 \
    --out "$out/$kind" -- $train "${extra[@]}"
done
