#!/usr/bin/env bash
# Builds the sdist and from it the wheel, installs the wheel into a fresh virtual environment the
# way the Docker image does (requirements.lock with hashes, then the wheel without dependencies),
# and runs tests/smoke/wheel_smoke.py with that environment's Python in an empty folder, so that a
# file missing from the package cannot pass. Everything happens in a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
python=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/synpunkt-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "wheel: building the sdist and the wheel"
"$python" -m venv "$work/tools"
"$work/tools/bin/pip" install --quiet build
"$work/tools/bin/python" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 ||
    { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/synpunkt-*.whl)

echo "wheel: installing $(basename "$wheel") into a fresh virtual environment"
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --require-hashes --only-binary :all: -r requirements.lock
"$work/venv/bin/pip" install --quiet --no-deps "$wheel"
# A dependency in pyproject.toml that requirements.lock lacks (run deploy/lock) fails here.
"$work/venv/bin/pip" check

mkdir "$work/empty"
cd "$work/empty"
"$work/venv/bin/python" "$repo/tests/smoke/wheel_smoke.py"
