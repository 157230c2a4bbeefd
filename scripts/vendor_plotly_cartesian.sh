#!/usr/bin/env bash
# Vendors plotly.js's cartesian partial bundle (npm: plotly.js-cartesian-dist-min) at the
# version of the plotly.js that the installed plotly package ships, into
# hpo/dashboard/static/plotly-cartesian.min.js (see hpo/dashboard/_plotlyjs.py).
# Run after upgrading plotly; needs npm and the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
version=$("$PY" -c 'from hpo.dashboard._plotlyjs import full, version_of; print(version_of(full()))')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "plotly.js-cartesian-dist-min@$version" >/dev/null && tar xzf ./*.tgz)
cp "$tmp/package/plotly-cartesian.min.js" hpo/dashboard/static/plotly-cartesian.min.js
echo "vendored plotly.js-cartesian-dist-min $version ($(wc -c < hpo/dashboard/static/plotly-cartesian.min.js) bytes)"
