#!/usr/bin/env bash
# Check minicnn on an NVIDIA GPU in one command: the GPU tests, where a training step spends
# its time, and the timings and peak memory against PyTorch.  From the repository root:
#
#     bash benchmarks/gpu_check.sh             # everything (budget: about 10 minutes on an H100)
#     bash benchmarks/gpu_check.sh --quick     # the GPU tests and the two profiles, quick runs
#     bash benchmarks/gpu_check.sh --dry-run   # print the commands, run nothing
#
# Steps, in order, each under `timeout` (one hung step cannot eat the whole budget; the
# next one runs anyway) with its output in $OUT/<step>.log.  The limits are budgets, not
# measurements: no GPU has run this script yet.
#
#   step          what                                                          limit
#   install       a venv with `pip install -e .[test]` and the CuPy wheel       15 min (not
#                 for the driver's CUDA (skipped with SKIP_INSTALL=1)            in the 10)
#   nvidia-smi    the GPU, driver and CUDA version                               30 s
#   pytest-gpu    python -m pytest -m gpu -q -rs tests (junit XML kept;          180 s
#                 failures do not stop the script)
#   profile-*     benchmarks/gpu.py --profile resnet18 / googlenet, batch 16:    60 s each
#                 per op its synchronised and its host time, host time between ops
#   bench-b16     benchmarks/gpu.py --model-batch 16: ops (batch 32) and models  180 s
#   bench-b64     benchmarks/gpu.py --no-ops --model-batch 64: the models        150 s
#
# --quick: install, nvidia-smi, pytest-gpu and the profiles with gpu.py --quick (batch 2).
# At the end $OUT/summary.txt: the tests' pass/fail counts, each step's exit status and
# time, which failed or timed out (status 124), where the JSON went, and the Markdown table
# of the model rows for docs/benchmarks.md.  What to commit: docs/gpu.md, "Checking a GPU
# in one command".
#
# Settings (environment):
#   OUT             output folder (default gpu-check-<UTC date and time>)
#   MINICNN_PYTHON  use this Python instead of creating a venv (installs into it unless
#                   SKIP_INSTALL=1)
#   VENV            the venv to create or reuse (default .venv-gpu)
#   CUPY_PACKAGE    the CuPy wheel (default from the driver's CUDA version: cupy-cuda12x
#                   for 12.x, cupy-cuda13x for 13.x, cupy-cuda11x for 11.x)
#   SKIP_INSTALL=1  install nothing (the Python already has minicnn's test extra and CuPy)
#   NVIDIA_SMI      the nvidia-smi command (default nvidia-smi)
set -u -o pipefail

QUICK=0
DRY_RUN=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --dry-run) DRY_RUN=1 ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_check.sh: unknown option '$arg' (expected --quick, --dry-run or --help)" >&2
           exit 2 ;;
    esac
done

cd "$(dirname "$0")/.." || exit 2          # the repository root
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # this checkout's minicnn, installed or not
NVIDIA_SMI=${NVIDIA_SMI:-nvidia-smi}
OUT=${OUT:-gpu-check-$(date -u +%Y%m%d-%H%M)}

# ----- the GPU and its CUDA version ----------------------------------------------------------
gpu_found() {
    command -v "$NVIDIA_SMI" > /dev/null 2>&1 && "$NVIDIA_SMI" -L > /dev/null 2>&1
}

if gpu_found; then
    GPU_NAME=$("$NVIDIA_SMI" --query-gpu=name --format=csv,noheader | head -n 1)
    # the highest CUDA version the driver supports, from nvidia-smi's header ("CUDA Version: 12.4")
    CUDA_MAJOR=$("$NVIDIA_SMI" | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\)\..*/\1/p' | head -n 1)
    if [ -z "$CUDA_MAJOR" ] && command -v nvcc > /dev/null 2>&1; then
        CUDA_MAJOR=$(nvcc --version | sed -n 's/.*release \([0-9][0-9]*\)\..*/\1/p')
    fi
elif [ "$DRY_RUN" = 1 ]; then
    GPU_NAME="unknown GPU"
    CUDA_MAJOR=12
else
    echo "gpu_check.sh: no NVIDIA GPU found ('$NVIDIA_SMI' is missing or lists no GPU)." >&2
    echo "This script checks minicnn on a real GPU; without one, run the CPU tests" >&2
    echo "(python -m pytest) or see the plan with: bash benchmarks/gpu_check.sh --dry-run" >&2
    exit 2
fi
# "NVIDIA H100 80GB HBM3" -> "h100-80gb-hbm3": the name of the result files
GPU_SLUG=$(echo "$GPU_NAME" | tr '[:upper:]' '[:lower:]' | sed 's/nvidia//; s/[^a-z0-9]\{1,\}/-/g; s/^-//; s/-$//')

if [ -n "${CUPY_PACKAGE:-}" ]; then
    CUPY=$CUPY_PACKAGE
else
    case "${CUDA_MAJOR:-}" in
        11|12|13) CUPY="cupy-cuda${CUDA_MAJOR}x" ;;
        *) echo "gpu_check.sh: cannot tell the CUDA version (got '${CUDA_MAJOR:-}');" \
                "set CUPY_PACKAGE, e.g. CUPY_PACKAGE=cupy-cuda12x" >&2
           exit 2 ;;
    esac
fi
# CuPy compiles the kernels with NVRTC: without a CUDA toolkit, take it from PyPI ([ctk])
command -v nvcc > /dev/null 2>&1 || CUPY="${CUPY}[ctk]"

# ----- running the steps -----------------------------------------------------------------
STATUS=()                                   # "step: exit status, seconds" per step run
FAILED=()

run_step() {   # run_step NAME LIMIT_SECONDS COMMAND...: output to the screen and $OUT/NAME.log
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit} s): $*"
    if [ "$DRY_RUN" = 1 ]; then
        return 0
    fi
    local start=$SECONDS
    timeout --kill-after=15 "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    STATUS+=("$name: exit $rc, $((SECONDS - start)) s")
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        FAILED+=("$name (timed out after $limit s)")
    elif [ "$rc" != 0 ]; then
        FAILED+=("$name (exit $rc)")
    fi
    return 0
}

[ "$DRY_RUN" = 1 ] || mkdir -p "$OUT" || exit 2
echo "gpu_check.sh: $GPU_NAME (CUDA $CUDA_MAJOR, $CUPY), results in $OUT/"

if [ -n "${MINICNN_PYTHON:-}" ]; then
    PY=$MINICNN_PYTHON
else
    VENV=${VENV:-.venv-gpu}
    PY=$VENV/bin/python
    if [ ! -x "$PY" ]; then
        run_step venv 120 python3 -m venv "$VENV"
    fi
fi
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
    run_step install 900 "$PY" -m pip install -e ".[test]" "$CUPY"
fi

run_step nvidia-smi 30 "$NVIDIA_SMI"
run_step git 10 git log -1 --format='commit %H %cd %s'
run_step pytest-gpu 180 "$PY" -m pytest -m gpu -q -rs --junitxml "$OUT/pytest-gpu.xml" tests
QUICK_FLAG=()
[ "$QUICK" = 1 ] && QUICK_FLAG=(--quick)
for model in resnet18 googlenet; do
    run_step "profile-$model" 60 "$PY" benchmarks/gpu.py --profile "$model" --model-batch 16 \
        "${QUICK_FLAG[@]}"
done
JSONS=()
if [ "$QUICK" = 0 ]; then
    JSONS=("$OUT/gpu-$GPU_SLUG-b16.json" "$OUT/gpu-$GPU_SLUG-b64.json")
    run_step bench-b16 180 "$PY" benchmarks/gpu.py --model-batch 16 --json "${JSONS[0]}"
    run_step bench-b64 150 "$PY" benchmarks/gpu.py --no-ops --model-batch 64 --json "${JSONS[1]}"
fi

# ----- summary ----------------------------------------------------------------------------
summarize() {
    echo "gpu_check.sh on $GPU_NAME, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git log -1 --format='commit %h')"
    echo "driver $("$NVIDIA_SMI" --query-gpu=driver_version --format=csv,noheader | head -n 1), $CUPY"
    echo
    echo "GPU tests (pytest -m gpu):"
    "$PY" - "$OUT/pytest-gpu.xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError) as e:
    sys.exit(f"  no results ({e})")
suites = [root] if root.tag == "testsuite" else list(root)
count = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
print("  {tests} tests: {passed} passed, {failures} failed, {errors} errors, {skipped} skipped".format(
    passed=count["tests"] - count["failures"] - count["errors"] - count["skipped"], **count))
for case in root.iter("testcase"):
    if case.find("failure") is not None or case.find("error") is not None:
        print(f"  FAILED {case.get('classname')}::{case.get('name')}")
EOF
    echo
    echo "Steps:"
    printf '  %s\n' "${STATUS[@]}"
    if [ ${#FAILED[@]} -gt 0 ]; then
        echo "Failed: ${FAILED[*]}"
    else
        echo "Failed: none"
    fi
    local written=() json
    for json in "${JSONS[@]}"; do
        [ -f "$json" ] && written+=("$json")
    done
    if [ ${#written[@]} -gt 0 ]; then
        echo
        echo "Results: ${written[*]} (a run stopped early has \"complete\": false)"
        echo "To commit: copy them to docs/results/ and put this table in docs/benchmarks.md:"
        echo
        "$PY" benchmarks/gpu.py --table "${written[@]}"
    fi
}

if [ "$DRY_RUN" = 1 ]; then
    echo "== summary: $OUT/summary.txt (test counts from $OUT/pytest-gpu.xml, steps, the table)"
    exit 0
fi
summarize 2>&1 | tee "$OUT/summary.txt"
[ ${#FAILED[@]} -eq 0 ]
