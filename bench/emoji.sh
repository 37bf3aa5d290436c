#!/usr/bin/env bash
# The emoji benchmarks of BENCHMARKS.md ("Pretrained encoders"):
#  1. the text encoder trained from scratch (two earlier versions and now) against a TF-IDF
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

# Earlier versions of the scratch text encoder, as configurations: the first one, and
# the previous default (sum over √n pooling, before TF-IDF pooling).
cat >"$out/text-v1.toml" <<'TOML'
[model]
feature_dim = 64
encoders = [{ type = "cnn" }, { type = "text", init_std = 1.0, embedding_scale = 1.0, skip_unknown = false, pooling = "mean" }]
TOML
cat >"$out/text-v2.toml" <<'TOML'
[model]
feature_dim = 64
encoders = [{ type = "cnn" }, { type = "text", init_std = 0.1, embedding_scale = 10.0, skip_unknown = true, pooling = "sqrt-mean" }]
TOML
for s in 0 1 2; do
  for v in now v1 v2; do
    dir="$out/text-$v-split$s"
    config=()
    [ "$v" != now ] && config=(--config "$out/text-$v.toml")
    [ -f "$dir/test.json" ] || "$bin" train "${config[@]}" --manifest "$csv" --data-seed "$s" $train \
      --out "$dir" --quiet >/dev/null
  done
  "$python" bench/text_baseline.py --manifest "$csv" --column name --run "$out/text-now-split$s" \
    >"$out/tfidf-split$s.json"
done
"$python" - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
rows = {"scratch text encoder, first version": "text-v1",
        "scratch text encoder, sum / √n pooling (previous default)": "text-v2",
        "scratch text encoder, now (TF-IDF pooling)": "text-now"}
print("| emoji names, test accuracy % | split 0 | split 1 | split 2 | mean |")
print("|---|---:|---:|---:|---:|")
for name, run in rows.items():
    a = [100 * json.load(open(f"{out}/{run}-split{s}/test.json"))["unimodal"][1] for s in range(3)]
    print(f"| {name} (MLA, its text modality) | " + " | ".join(f"{x:.1f}" for x in a) + f" | {statistics.mean(a):.1f} |")
a = [100 * json.load(open(f"{out}/tfidf-split{s}.json"))["test"] for s in range(3)]
print("| TF-IDF logistic regression (C on validation) | " + " | ".join(f"{x:.1f}" for x in a) + f" | {statistics.mean(a):.1f} |")
PY

# 1b. The text encoder alone: the names with a constant second column ("none"), so that
#     neither the picture nor its share of the head steers the epoch choice; by category
#     (emoji.csv) and by subcategory (from the package's emoji.json, subcategories with
#     10 or more emoji); 3 splits x 3 seeds, previous (sum / √n) and current (TF-IDF)
#     pooling, against the logistic regression on the same splits.
"$python" - "$csv" "$pkg" "$out" <<'PY'
import csv, json, sys
from collections import Counter
src, pkg, out = sys.argv[1:]
rows = list(csv.reader(open(src, newline="", encoding="utf-8")))
names = [h.split(":")[0] for h in rows[0]]
n, l = names.index("name"), names.index("label")
with open(f"{out}/names-category.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["name:text", "blank:text", "label"])
    w.writerows([r[n], "none", r[l]] for r in rows[1:])
emoji = [(e["name"], e["subcategory"]) for e in json.load(open(f"{pkg}/emoji.json")) if e.get("name")]
count = Counter(s for _, s in emoji)
with open(f"{out}/names-subcategory.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["name:text", "blank:text", "label"])
    w.writerows([name, "none", s] for name, s in emoji if count[s] >= 10)
PY
v2='{ type = "text", init_std = 0.1, embedding_scale = 10.0, skip_unknown = true, pooling = "sqrt-mean" }'
printf '[model]\nencoders = [%s, %s]\n' "$v2" "$v2" >"$out/alone-v2.toml"
for task in category subcategory; do
  for s in 0 1 2; do
    for seed in 0 1 2; do
      for v in now v2; do
        dir="$out/alone-$task-$v-split$s-seed$seed"
        config=()
        [ "$v" = v2 ] && config=(--config "$out/alone-v2.toml")
        [ -f "$dir/test.json" ] || "$bin" train "${config[@]}" --manifest "$out/names-$task.csv" \
          --data-seed "$s" --seed "$seed" $train --out "$dir" --quiet >/dev/null
      done
    done
    "$python" bench/text_baseline.py --manifest "$out/names-$task.csv" --column name \
      --run "$out/alone-$task-now-split$s-seed0" >"$out/alone-$task-tfidf-split$s.json"
  done
done
"$python" - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
print("| names alone, test accuracy % (mean of 3 seeds per split) | split 0 | split 1 | split 2 | mean |")
print("|---|---:|---:|---:|---:|")
for task in ["category", "subcategory"]:
    for name, v in [("sum / √n pooling (previous default)", "v2"), ("TF-IDF pooling (now)", "now")]:
        a = [statistics.mean(100 * json.load(open(f"{out}/alone-{task}-{v}-split{s}-seed{k}/test.json"))["unimodal"][0]
                             for k in range(3)) for s in range(3)]
        print(f"| {task}: scratch text encoder, {name} | " + " | ".join(f"{x:.1f}" for x in a) + f" | {statistics.mean(a):.1f} |")
    a = [100 * json.load(open(f"{out}/alone-{task}-tfidf-split{s}.json"))["test"] for s in range(3)]
    print(f"| {task}: TF-IDF logistic regression | " + " | ".join(f"{x:.1f}" for x in a) + f" | {statistics.mean(a):.1f} |")
PY

for kind in scratch pretrained; do
  extra=()
  [ "$kind" = pretrained ] && extra=(--pretrained)
  "$bin" bench --data "manifest:$csv" --methods mla,concat,late,qmf --seeds 3 --jobs 2 \
    --out "$out/$kind" -- $train "${extra[@]}"
done
