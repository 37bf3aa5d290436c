#!/usr/bin/env bash
# The AV-digits benchmark grid — splits official and speaker:theo x MLA / joint x seeds
# 0 1 2 — all twelve runs at once (a GPU machine has room for them), into
# $OUT/<split>/<method>-<seed>/. Summarise each split with
#   python3 bench/compare.py --from $OUT/official
#   python3 bench/compare.py --from $OUT/speaker-theo
# BIN: mla-native; DATA: a folder with fsdd/recordings and mnist; EPOCHS; DEVICE.
set -u
BIN=${BIN:-mla-native}
DATA=${DATA:-../shared/data}
EPOCHS=${EPOCHS:-30}
DEVICE=${DEVICE:-wgpu}
OUT=${OUT:-runs/av-digits}
for split in official speaker:theo; do
  for method in mla joint; do
    for seed in 0 1 2; do
      dir="$OUT/${split/:/-}/$method-$seed"
      mkdir -p "$dir"
      "$BIN" train --quiet --device "$DEVICE" --method "$method" --seed "$seed" \
        --epochs "$EPOCHS" --lr 0.05 --out "$dir" \
        --data "av-digits:fsdd=$DATA/fsdd/recordings,mnist=$DATA/mnist,split=$split" \
        > "$dir/log.txt" 2>&1 &
    done
  done
done
wait
