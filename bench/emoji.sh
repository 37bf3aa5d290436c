#!/usr/bin/env bash
# The emoji benchmarks of BENCHMARKS.md ("Pretrained encoders"):
#  1. the text encoder trained from scratch (four earlier versions and now) against a
#     TF-IDF logistic regression on the emoji names, on 10 splits (data seeds 0-9);
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

# The scratch text encoder's versions, as configurations (none for the current default),
# trained without label smoothing (`--label-smoothing 0`) but for `now`: v1 the first
# one; v2 sum / √n pooling; v3 TF-IDF pooling with a ReLU projection; v4 TF-IDF pooling
# without a projection; now v4 with the label smoothing that the text encoder turns on.
text() { printf '{ type = "text", init_std = %s, embedding_scale = %s, skip_unknown = %s, pooling = "%s", projection = "%s" }' "$@"; }
v1=$(text 1.0 1.0 false mean relu)
v2=$(text 0.1 10.0 true sqrt-mean relu)
v3=$(text 0.1 10.0 true tf-idf relu)
v4=$(text 0.1 10.0 true tf-idf none)
for v in v1 v2 v3 v4; do
  printf '[model]\nfeature_dim = 64\nencoders = [{ type = "cnn" }, %s]\n' "${!v}" >"$out/text-$v.toml"
  printf '[model]\nfeature_dim = 64\nencoders = [%s, %s]\n' "${!v}" "${!v}" >"$out/alone-$v.toml"
done
splits=$(seq 0 9)
versions="v1 v2 v3 v4 now"

# 1. MLA on pictures + names, 10 splits (data seeds), one thread per run: the test
#    accuracy of the name modality, and the logistic regression on the same split.
for s in $splits; do
  for v in $versions; do
    dir="$out/text-$v-split$s"
    config=()
    [ "$v" != now ] && config=(--config "$out/text-$v.toml" --label-smoothing 0)
    [ -f "$dir/test.json" ] || "$bin" train "${config[@]}" --manifest "$csv" --data-seed "$s" $train \
      --threads 1 --out "$dir" --quiet >/dev/null
  done
  [ -f "$out/tfidf-split$s.json" ] || "$python" bench/text_baseline.py --manifest "$csv" --column name \
    --run "$out/text-now-split$s" >"$out/tfidf-split$s.json"
done

# 1b. The text encoder alone: the names with a constant second column ("none"), so that
#     neither the picture nor its share of the head steers the epoch choice; by category
#     (emoji.csv) and by subcategory (from the package's emoji.json, subcategories with
#     10 or more emoji); 10 splits x 3 seeds, against the logistic regression.
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
for task in category subcategory; do
  for s in $splits; do
    for seed in 0 1 2; do
      for v in $versions; do
        dir="$out/alone-$task-$v-split$s-seed$seed"
        config=()
        [ "$v" != now ] && config=(--config "$out/alone-$v.toml" --label-smoothing 0)
        [ -f "$dir/test.json" ] || "$bin" train "${config[@]}" --manifest "$out/names-$task.csv" \
          --data-seed "$s" --seed "$seed" $train --out "$dir" --quiet >/dev/null
      done
    done
    [ -f "$out/alone-$task-tfidf-split$s.json" ] || "$python" bench/text_baseline.py \
      --manifest "$out/names-$task.csv" --column name --run "$out/alone-$task-now-split${s}-seed0" \
      >"$out/alone-$task-tfidf-split$s.json"
  done
done

# The tables: mean test accuracy over the splits (of the seeds' mean per split), and
# the mean of the per-split differences from the logistic regression ± its standard error.
"$python" - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
versions = {"v1": "first version", "v2": "sum / √n pooling", "v3": "TF-IDF pooling, ReLU projection",
            "v4": "TF-IDF pooling, no projection",
            "now": "TF-IDF pooling, no projection, label smoothing 0.1 (now)"}
def acc(path, k):
    return 100 * json.load(open(path))["unimodal"][k]
def rows(title, runs, lr):
    lr = [100 * json.load(open(p))["test"] for p in lr]
    print(f"| {title} | test accuracy % | minus the logistic regression's |")
    print("|---|---:|---:|")
    for v, name in versions.items():
        a = [statistics.mean(acc(p, k) for p, k in split) for split in runs(v)]
        d = [x - y for x, y in zip(a, lr)]
        se = statistics.stdev(d) / len(d) ** 0.5
        print(f"| scratch text encoder, {name} | {statistics.mean(a):.1f} | {statistics.mean(d):+.1f} ± {se:.1f} |")
    print(f"| TF-IDF logistic regression (C on validation) | {statistics.mean(lr):.1f} | |\n")
rows("MLA on pictures + names (the name modality), 10 splits",
     lambda v: [[(f"{out}/text-{v}-split{s}/test.json", 1)] for s in range(10)],
     [f"{out}/tfidf-split{s}.json" for s in range(10)])
for task in ["category", "subcategory"]:
    rows(f"names alone, {task}, 10 splits x 3 seeds",
         lambda v: [[(f"{out}/alone-{task}-{v}-split{s}-seed{k}/test.json", 0) for k in range(3)] for s in range(10)],
         [f"{out}/alone-{task}-tfidf-split{s}.json" for s in range(10)])
PY

for kind in scratch pretrained; do
  extra=()
  [ "$kind" = pretrained ] && extra=(--pretrained)
  "$bin" bench --data "manifest:$csv" --methods mla,concat,late,qmf --seeds 3 --jobs 2 \
    --out "$out/$kind" -- $train "${extra[@]}"
done
