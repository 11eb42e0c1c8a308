#!/usr/bin/env bash
# The wheel as a new user installs it, in a fresh virtual environment outside the repository:
# without extras (plus torch) the demo model scores and every other command either works or
# names the extra it needs; with [all] the main experiment runs. Called by `make test`.
#   tests/wheel_check.sh WORK_DIR TORCH_REQUIREMENT
set -euo pipefail
work=$1
torch=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$work" && mkdir -p "$work"
cd "$work"
"$repo/.venv/bin/pip" wheel -q --no-deps -w dist "$repo"
wheel=$(ls dist/noiseloss-*.whl)
size=$(stat -c %s "$wheel")
echo "wheel: $(basename "$wheel"), $((size / 1024 / 1024)) MiB"
[ "$size" -lt 40000000 ] || { echo "the wheel is over 40 MB (40,000,000 bytes)"; exit 1; }
python3 -m venv venv
pip() { venv/bin/pip install -q "$@" 2>> pip.log || { tail -20 pip.log; exit 1; }; }
pip --upgrade pip
pip "$torch"
pip "$wheel"
nl=venv/bin/noiseloss
clip=$(venv/bin/python -c "from noiseloss.demo.data import dataset_files; print(dataset_files('train')[0])")
$nl --help > /dev/null
$nl score "$clip" --model demo --out base-score
echo "base install: demo model scores"
set +e
out=$($nl perturb "$clip" --kind noise -p onset_frames=10 -p length_frames=5 --out p.wav 2>&1)
code=$?
set -e
[ "$code" = 0 ] || { echo "$out" | grep -q "noiseloss\[perturb\]" || { echo "perturb: $out"; exit 1; }; }
set +e
out=$($nl run paper-noise --out base-run 2>&1)
code=$?
set -e
[ "$code" = 2 ] && echo "$out" | grep -q "pip install 'noiseloss\[" \
  || { echo "run without extras gave exit $code: $out"; exit 1; }
echo "base install: run names the extra it needs"
pip "${wheel}[all]"
$nl run paper-noise --out all-run > all-run.log 2>&1 || { tail -20 all-run.log; exit 1; }
[ -f all-run/report/index.html ]
echo "[all]: paper-noise ran end to end"
