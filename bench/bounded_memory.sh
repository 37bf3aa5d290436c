#!/usr/bin/env bash
# Training on CREMA-D-shaped data several times larger than the memory the run may use
# (BENCHMARKS.md, "Data larger than memory"): writes CLIPS clips at the paper's shapes
# (1024 x 128 float32 filterbanks, 3 JPEG frames a clip, 112 px for the model: about
# 0.98 MB a clip decoded), then trains one epoch twice under a memory cgroup of LIMIT:
# with the clips in memory (expected: killed) and with `store=DIR` (mapped from disk).
# Prints the peak of the cgroup's anonymous memory (the process's own heap) and of its
# whole usage (page cache included, which the kernel reclaims at the limit).
#
#   bash bench/bounded_memory.sh [OUT]     OUT default /tmp/mla-bounded (needs ~16 GB free)
#
# Environment: CLIPS (default 6200, ~6 GB decoded), LIMIT (default 2G), MLA_NATIVE,
# PYTHON with numpy and Pillow. Needs root and cgroup v1's memory controller (as on this
# project's machine). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/mla-bounded}
clips=${CLIPS:-6200}
limit=${LIMIT:-2G}
bin=${MLA_NATIVE:-${CARGO_TARGET_DIR:-target}/release/mla-native}
python=${PYTHON:-python3}
data="$out/data"
mkdir -p "$out"

if [ ! -f "$data/test.txt" ] || [ "$(cat "$data/clips" 2>/dev/null)" != "$clips" ]; then
  rm -rf "$data" && mkdir -p "$data/fbank" "$data/visual"
  "$python" - "$data" "$clips" <<'PY'
import os, sys
import numpy as np
from PIL import Image
root, n = sys.argv[1], int(sys.argv[2])
labels = ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"]
rng = np.random.default_rng(0)
train, test = [], []
for i in range(n):
    c = i % 6
    clip = f"{1001 + i // 91}_{i:05d}_{labels[c]}_XX"
    (test if (i // 6) % 10 == 0 else train).append(f"{clip}.flv {labels[c]}\n")
    fbank = (rng.standard_normal((1024, 128), dtype=np.float32) + c).astype(np.float32)
    np.save(f"{root}/fbank/{clip}.npy", fbank)
    os.makedirs(f"{root}/visual/{clip}")
    for f in range(3):
        pixels = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)
        pixels[..., c % 3] = 40 * c
        Image.fromarray(pixels).save(f"{root}/visual/{clip}/{f:05d}.jpg", quality=90)
open(f"{root}/train.txt", "w").writelines(train)
open(f"{root}/test.txt", "w").writelines(test)
open(f"{root}/clips", "w").write(str(n))
PY
fi
echo "data: $clips clips, $(du -sh "$data" | cut -f1) on disk"

cg=/sys/fs/cgroup/memory/mla-bounded
# One run in a fresh memory cgroup; samples its anonymous memory while it runs.
limited() {
  local name=$1; shift
  rmdir "$cg" 2>/dev/null || true
  mkdir "$cg"
  echo "$limit" >"$cg/memory.limit_in_bytes"
  echo 0 >"$cg/memory.swappiness" 2>/dev/null || true
  local peak_anon=0 status=0
  ( echo $BASHPID >"$cg/cgroup.procs"; exec "$@" ) >"$out/$name.log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    local anon
    anon=$(awk '$1 == "total_rss" { print $2 }' "$cg/memory.stat")
    [ "${anon:-0}" -gt "$peak_anon" ] && peak_anon=$anon
    sleep 0.5
  done
  wait "$pid" || status=$?
  local peak_all
  peak_all=$(cat "$cg/memory.max_usage_in_bytes")
  local killed
  killed=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.oom_control")
  printf '%-8s exit %3d  oom kills %s  peak anonymous %6.0f MiB  peak usage (page cache included) %6.0f MiB  limit %s\n' \
    "$name" "$status" "${killed:-?}" "$((peak_anon / 1048576))" "$((peak_all / 1048576))" "$limit" | tee -a "$out/summary.txt"
  rmdir "$cg" 2>/dev/null || true
}

: >"$out/summary.txt"
# Batch 16: the default CNN on 1024 x 128 filterbanks needs ~4 GB of activations at 64.
train=(train --epochs 1 --batch-size 16 --quiet)
limited memory /usr/bin/time -v "$bin" "${train[@]}" --data "crema-d:$data" --out "$out/run-memory"
rm -rf "$out/store"
limited store /usr/bin/time -v "$bin" "${train[@]}" --data "crema-d:$data,store=$out/store" \
  --out "$out/run-store"
echo "store: $(du -sh "$out/store" | cut -f1) in $out/store"
grep -h "Elapsed\|Maximum resident" "$out/store.log" || true
cat "$out/run-store/test.json" 2>/dev/null || tail -5 "$out/store.log"
