#!/usr/bin/env bash
# Trunk's post-build hook (Trunk.toml): builds the embeddable widget (widget/build.sh)
# into dist/widget/ with an index.json of its files (file, size, SHA-256). The page's
# "Export for a web site" zips them with the model, its encoder files and an example
# page. The widget's wasm shares the page's profile, so Burn is built once for both.
set -euo pipefail
out="${TRUNK_STAGING_DIR:?run by trunk}/widget"
MLA_WIDGET_OUT="$out" bash widget/build.sh
# The example page of widget/build.sh wants a model beside it; the export writes its own.
rm -f "$out/index.html"
entries=()
for path in "$out"/*; do
  file=$(basename "$path")
  size=$(stat -c %s "$path")
  sha=$(sha256sum "$path" | cut -d' ' -f1)
  entries+=("{\"file\":\"$file\",\"size\":$size,\"sha256\":\"$sha\"}")
done
(IFS=,; echo "[${entries[*]}]") >"$out/index.json"
echo "web/widget.sh: the widget's ${#entries[@]} files are in dist/widget/ for the site export"
