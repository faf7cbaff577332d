#!/usr/bin/env bash
# The one prepared GPU check (issues 13 and 17), under 6 minutes on one H100/H200; the first
# thing to run when a GPU is at hand:
#   0. keras-accuracy check-kernels --device cuda (every Triton kernel x dtype checked on this
#      GPU against the reference; a kernel that fails falls back and is named here);
#   1. tests/test_triton.py, tests/test_triton_cost.py and tests/test_triton_verify.py (the
#      kernels compiled, on CUDA tensors, against the CPU references; every configuration's
#      update on CUDA's default path: one kernel, no host sync) and tests/test_cuda.py;
#   2. python benchmarks/bench.py --device cuda: the six metrics ("tka update" is the default,
#      fused path) next to the torch one-liner, torchmetrics and, if installed, Keras 3;
#      "x read" is each time over the read limit (input bytes / the bandwidth of a copy).
#      Targets (issue 17): argmax <= 1.15x, top-5 <= 1.2x, binary <= 1.2x; the (32, 10) update
#      is one launch with no host sync (tests/test_triton_cost.py checks that part).
# Writes env.txt, kernels.txt, tests.txt, bench_cuda.md and summary.txt under $OUT if set, else
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

timeout "${KERNELS_TIMEOUT:-60}" python -m torch_keras_acc check-kernels --device cuda > "$out/kernels.txt" 2>&1
kernels_rc=$?
cat "$out/kernels.txt"

# Separate runs with their own time limits, so that a slow one cannot starve the others. The first
# run compiles each kernel variant once (a second or so each); --durations names the slow tests.
timeout "${TRITON_TEST_TIMEOUT:-120}" python -m pytest -q -p no:cacheprovider --durations=10 \
    tests/test_triton.py tests/test_triton_cost.py tests/test_triton_verify.py > "$out/tests.txt" 2>&1
triton_rc=$?
timeout "${CUDA_TEST_TIMEOUT:-80}" python -m pytest -q -p no:cacheprovider --durations=10 \
    tests/test_cuda.py >> "$out/tests.txt" 2>&1
cuda_rc=$?
tail -n 60 "$out/tests.txt"
tests_rc=$(( triton_rc || cuda_rc || kernels_rc ))

timeout "${BENCH_TIMEOUT:-100}" python benchmarks/bench.py --device cuda ${BENCH_ARGS:-} > "$out/bench_cuda.md" 2>&1
bench_rc=$?
cat "$out/bench_cuda.md"

echo "check-kernels rc=$kernels_rc (1: a kernel fell back), test_triton* rc=$triton_rc, test_cuda rc=$cuda_rc, bench rc=$bench_rc (124: timed out); $((SECONDS - start)) s in all" | tee "$out/summary.txt"
[ "$tests_rc" = 0 ] && [ "$bench_rc" = 0 ]
