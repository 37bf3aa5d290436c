#!/usr/bin/env bash
# Trunk's post-build hook (Trunk.toml): serves the pretrained encoders with the page
# when their files are at hand (`mla-native encoders import`; $MLA_ENCODERS, default
# ~/.cache/mla/encoders): copies them into dist/encoders/ with an index.json (name,
# file, size, SHA-256) that the page reads to offer them. Without them the page works
# as before and says why it offers no pretrained encoders.
set -euo pipefail
src="${MLA_ENCODERS:-$HOME/.cache/mla/encoders}"
out="${TRUNK_STAGING_DIR:?run by trunk}/encoders"
entries=()
for name in mobilenet_v2 minilm_l6; do
  file="$name.mlae"
  [ -f "$src/$file" ] || continue
  mkdir -p "$out"
  cp "$src/$file" "$out/$file"
  size=$(stat -c %s "$out/$file")
  sha=$(sha256sum "$out/$file" | cut -d' ' -f1)
  entries+=("{\"name\":\"$name\",\"file\":\"$file\",\"size\":$size,\"sha256\":\"$sha\"}")
done
if [ ${#entries[@]} -eq 0 ]; then
  echo "web/encoders.sh: no encoder files in $src; the page offers no pretrained encoders"
  exit 0
fi
(IFS=,; echo "[${entries[*]}]") >"$out/index.json"
echo "web/encoders.sh: serving ${#entries[@]} encoder files from $src"
