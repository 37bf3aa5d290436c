#!/usr/bin/env bash
# Builds the embeddable widget into widget/dist/ (or $MLA_WIDGET_OUT): the wasm module
# and its JavaScript glue (wasm-bindgen), the <mla-classifier> element and the example
# page. Serve that folder; with MODEL given, the example page's model comes with it,
# and, when it was trained with pretrained encoders, their files (from $MLA_ENCODERS,
# default ~/.cache/mla/encoders), which the widget fetches from next to the model.
#
#   bash widget/build.sh [MODEL]     MODEL: a model file, copied as model.mla
#
# Needs the wasm32 target and wasm-bindgen-cli at the Cargo.lock version (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
out="${MLA_WIDGET_OUT:-widget/dist}"
model="${1:-}"
if [ -n "$model" ] && [ ! -f "$model" ]; then
  echo "widget/build.sh: model file $model does not exist" >&2
  exit 2
fi

# The same profile as the page's wasm (small, fast): Burn is built once for wasm32.
cargo build --profile wasm-release --target wasm32-unknown-unknown -p mla-widget
rm -rf "$out"
mkdir -p "$out"
wasm-bindgen --target web --out-dir "$out" \
  "$target/wasm32-unknown-unknown/wasm-release/mla_widget.wasm"
cp widget/js/mla-classifier.js widget/js/mla-worker.js widget/example/index.html "$out/"
if [ -n "$model" ]; then
  cp "$model" "$out/model.mla"
  encoders="${MLA_ENCODERS:-$HOME/.cache/mla/encoders}"
  # The model file's JSON header names each encoder by its type.
  for pair in mobilenet_v2:mobilenet_v2 minilm:minilm_l6; do
    if grep -aq "\"type\":\"${pair%%:*}\"" "$model"; then
      file="$encoders/${pair##*:}.mlae"
      if [ ! -f "$file" ]; then
        echo "widget/build.sh: the model uses ${pair%%:*} but $file is missing (mla-native encoders import)" >&2
        exit 2
      fi
      cp "$file" "$out/"
    fi
  done
fi

echo "widget in $out:"
for f in mla_widget_bg.wasm mla_widget.js mla-classifier.js mla-worker.js; do
  printf '  %-20s %8d bytes, %8d gzipped\n' "$f" "$(wc -c <"$out/$f")" "$(gzip -9c "$out/$f" | wc -c)"
done
