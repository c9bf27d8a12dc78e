#!/usr/bin/env bash
# Every GPU measurement of the training and extraction benchmarks, in one command (a borrowed GPU
# machine is lent for minutes, so nothing here is interactive):
#   1. the CUDA tests (tests/training/test_cuda.py: CPU-vs-CUDA agreement of both engines, step loops
#      under torch.cuda.set_sync_debug_mode("error"));
#   2. the IEMOCAP-size protocol on the GPU: 250 runs timed at fp32, then tf32 and bf16 with their
#      agreement with fp32 (benchmarks/train_protocol.py);
#   3. IEMOCAP-size extraction, wav2vec2-base + bert-base on 5,531 clips / 7 h (benchmarks/extract.py).
# Logs and JSON go to $OUT (default runs/gpu-check; 6 files). Each step has a time limit (together 550 s,
# under a borrowed machine's 10 minutes per command), a failed step does not stop the next, and the
# benchmarks save their JSON as they go (a step stopped at its limit leaves what it measured, marked
# "complete": false); the exit status says whether all passed. Pick STEPS="tests train_protocol" (say) to
# run some of them.
# STEPS=suite runs the whole test suite there instead (not a default step: it needs a command of its own),
# 8 pytest workers, with the CUDA build of torch the machine has, so every test that picks a device by
# default picks the GPU. The packaged all-MiniLM-L6-v2 (an 84 MB wheel) does not travel: the tests that need
# it skip (AMBER2_TESTS_WITHOUT_OFFLINE_MODEL=1, tests/conftest.py) and the log says how many.
#
# On a machine without network whose Python lacks some of amber2's dependencies, put their wheels in .whl/
# first (`make gpu-wheels` downloads them for CPython 3.12, manylinux x86-64): they are installed into a
# temporary folder and amber2 runs from src/.
#
#   bash benchmarks/gpu_check.sh                        # on the GPU machine
#   DEVICE=cpu bash benchmarks/gpu_check.sh --quick     # the same steps, small, on a CPU (the plumbing)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-check}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
mkdir -p "$OUT"

if compgen -G ".whl/*.whl" >/dev/null; then
  site=$(mktemp -d /tmp/amber2-site.XXXX)
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl || exit 1
  export PYTHONPATH="$site"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

failed=()
step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $OUT/NAME.log
  local name=$1 limit=$2 t0=$SECONDS
  shift 2
  case " ${STEPS:-environment tests train_protocol extract} " in
    *" $name "*) ;;
    *) echo "== $name: skipped (not in STEPS)"; return ;;
  esac
  echo "== $name (limit ${limit} s): $*"
  timeout -k 5 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 5 "$OUT/$name.log"
  echo "== $name: exit $rc after $((SECONDS - t0)) s"
  [ "$rc" = 0 ] || failed+=("$name")
}

step environment 20 $PY -c "import sys, torch, transformers; print(sys.version.split()[0], 'torch', torch.__version__, \
'transformers', transformers.__version__, 'cuda', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
if [ "$QUICK" = 1 ]; then
  step tests 300 $PY -m pytest -q -p no:cacheprovider -x tests/training/test_device.py
  step train_protocol 300 $PY benchmarks/train_protocol.py --quick --device "$DEVICE" --engines ensemble \
    --precision fp32 --compare-precision bf16 --out "$OUT/train_protocol.json"
  step extract 300 $PY benchmarks/extract.py --quick --device "$DEVICE" --out "$OUT/extract.json"
else
  step tests 110 $PY -m pytest -q -p no:cacheprovider tests/training/test_cuda.py
  step train_protocol 180 $PY benchmarks/train_protocol.py --device "$DEVICE" --engines ensemble \
    --precision fp32 --compare-precision tf32,bf16 --profile --out "$OUT/train_protocol.json"
  step extract 240 $PY benchmarks/extract.py --iemocap --device "$DEVICE" --workdir /tmp/amber2-extract \
    --out "$OUT/extract.json"
fi
# pytest-xdist spreads the modules over workers where it is installed; else one process.
workers=()
$PY -c "import xdist" 2>/dev/null && workers=(-n "${SUITE_WORKERS:-8}" --dist loadfile)
AMBER2_TESTS_WITHOUT_OFFLINE_MODEL=1 step suite 420 $PY -m pytest -q -p no:cacheprovider -rs "${workers[@]}" \
  --junitxml "$OUT/suite.xml" tests
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}"
  exit 1
fi
echo "all steps passed; results in $OUT"
