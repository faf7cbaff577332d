#!/usr/bin/env bash
# The one prepared GPU check (issue 13), under 6 minutes on one H100/H200:
#   1. tests/test_triton.py (the Triton kernels compiled, on CUDA tensors, against the CPU
#      references) and tests/test_cuda.py (every CUDA path against the CPU, no host sync);
#   2. python benchmarks/bench.py --device cuda (the "tka triton, fused count" rows next to
#      the torch one-liner, torchmetrics and, if installed, Keras 3).
# Writes env.txt, tests.txt, bench_cuda.md and summary.txt under $OUT if set, else
# benchmarks/out/. Needs torch with CUDA, triton, torchmetrics and pytest; no network,
# no Keras (the benchmark skips its row), no install of this package (PYTHONPATH below).
#   bash benchmarks/gpu_check.sh
#   OUT=/tmp/gpu BENCH_ARGS=--full bash benchmarks/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/out}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's package, installed or not
export TRITON_DEFAULT_FP_FUSION="${TRITON_DEFAULT_FP_FUSION:-1}"  # triton 3.9 warns when unset; no kernel here fuses anything inexact
start=$SECONDS

{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
    python - <<'PY'
import platform, torch, torchmetrics
try:
    import triton; tv = triton.__version__
except ImportError:
    tv = "not installed"
print(f"Python {platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda}), triton {tv}, torchmetrics {torchmetrics.__version__}")
print("device:", torch.cuda.get_device_name() if torch.cuda.is_available() else "NO CUDA DEVICE")
PY
} > "$out/env.txt" 2>&1
cat "$out/env.txt"

# Two runs with their own time limits, so that a slow one cannot starve the other. The first
# run compiles each kernel variant once (a second or so each); --durations names the slow tests.
timeout "${TRITON_TEST_TIMEOUT:-130}" python -m pytest -q -p no:cacheprovider --durations=10 \
    tests/test_triton.py > "$out/tests.txt" 2>&1
triton_rc=$?
timeout "${CUDA_TEST_TIMEOUT:-110}" python -m pytest -q -p no:cacheprovider --durations=10 \
    tests/test_cuda.py >> "$out/tests.txt" 2>&1
cuda_rc=$?
tail -n 60 "$out/tests.txt"
tests_rc=$(( triton_rc || cuda_rc ))

timeout "${BENCH_TIMEOUT:-110}" python benchmarks/bench.py --device cuda ${BENCH_ARGS:-} > "$out/bench_cuda.md" 2>&1
bench_rc=$?
cat "$out/bench_cuda.md"

echo "test_triton rc=$triton_rc, test_cuda rc=$cuda_rc, bench rc=$bench_rc (124: timed out); $((SECONDS - start)) s in all" | tee "$out/summary.txt"
[ "$tests_rc" = 0 ] && [ "$bench_rc" = 0 ]
