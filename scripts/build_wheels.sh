#!/usr/bin/env bash
# Build the two wheels into dist/ (or OUT=...): dualtts (the code) and dualtts-mini (the default model as package data).
#   bash scripts/build_wheels.sh            # needs `build` (pip install build; in the [dev] extra)
#   pip install dist/dualtts-*.whl dist/dualtts_mini-*.whl
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-${VENV:-.venv}/bin/python}
OUT=$(realpath -m "${OUT:-dist}")
MODEL=recipes/mini/checkpoints/dualtts-mini
mkdir -p "$OUT"
STAGE=$(mktemp -d); trap 'rm -rf "$STAGE"' EXIT
# the code: a copy of the files git tracks or would track (no .venv, exp/, build/ or egg-info of an editable install)
git ls-files -co --exclude-standard -z | xargs -0 -I{} sh -c '[ -e "{}" ] && echo "{}"' | tar -cf - -T - | tar -xf - -C "$STAGE"
"$PY" -m build --wheel --outdir "$OUT" "$STAGE" >"$STAGE.log" 2>&1 || { cat "$STAGE.log"; exit 1; }
# the default model: the distribution's template plus a copy of the model folder and the notice
mkdir -p "$STAGE/mini"
cp -r packages/dualtts-mini/. "$STAGE/mini/"
cp -r "$MODEL" "$STAGE/mini/dualtts_mini/model"
cp NOTICE "$STAGE/mini/dualtts_mini/NOTICE"
"$PY" -m build --wheel --outdir "$OUT" "$STAGE/mini" >"$STAGE.log" 2>&1 || { cat "$STAGE.log"; exit 1; }
rm -f "$STAGE.log"
ls -1 "$OUT"/*.whl
