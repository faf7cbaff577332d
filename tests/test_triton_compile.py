"""Every Triton kernel x scores dtype compiles for sm_80 and sm_90, on a machine without a GPU.

The wrappers are run with their kernels replaced by recorders (tests/test_triton.py's
``_Recorder``); each recorded launch, with the very arguments a CUDA tensor would pass, is
compiled ahead of time to a ``GPUTarget`` (Triton's frontend, LLVM and ptxas, on the CPU).
Each kernel is compiled in its most general form (per-element weights, a mask,
ignore_index, stored hits) for every dtype, with small tiles (compiles take seconds each on
a CPU); ``TKA_TRITON_COMPILE_ALL=1`` adds the other weight modes for float32.
Every test name contains ``triton``.
"""

from __future__ import annotations

import os

import pytest
import torch

pytest.importorskip("triton", reason="the Triton kernels need triton")

from torch_keras_acc import _triton as T  # noqa: E402
from tests.test_triton import _TRITON_TYPES, _Recorder  # noqa: E402

DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int32)
TARGETS = ((80, "sm_80"), (90, "sm_90"))


def _red(n: int, w_mode: int = 2, invalid: bool = False, ignore: int | None = None) -> T.Reduction:
    z = lambda dt: torch.zeros((), dtype=dt)  # noqa: E731
    keep = torch.ones(n, dtype=torch.bool) if w_mode == 2 else None
    weight = {0: None, 1: torch.ones(n), 2: torch.ones(n, dtype=torch.float16), 3: torch.tensor(2.0, dtype=torch.float64)}[w_mode]
    return T.Reduction("compile", torch.device("cpu"), n, z(torch.float64), z(torch.float64), z(torch.int64) if invalid else None,
                       weight, e=1, w_mode=w_mode, w_strides=(1, 0), keep=keep, keep_strides=(1, 0),
                       ignore=ignore if w_mode == 2 else None)


def _launches(dtype: torch.dtype, modes: tuple[int, ...] = (2,)) -> list:
    """Every kernel's launch for scores of ``dtype``, recorded."""
    calls: list = []
    x = torch.randn(8, 5).to(dtype)
    labels = torch.randint(0, 5, (8,))
    t = torch.eye(5)[labels].to(dtype)
    from torch_keras_acc import _triton_kernels

    recorders = {k: _Recorder(k, calls) for k in dir(_triton_kernels) if k.endswith("_kernel")}
    original = T._kernels
    T._kernels = lambda name, device: type("Kernels", (), recorders)  # type: ignore[assignment]
    try:
        T.argmax(x, keras3_zero_rule=dtype != torch.float64)
        for mode in modes:
            T.sparse("c", x, labels, _red(8, mode, True, -100), hits=True, keras_cast=True)
            if dtype.is_floating_point:
                T.sparse("c", x, labels.to(dtype), _red(8, mode, True, -100), keras_cast=True)
            T.topk("c", labels, x, 3, _red(8, mode, True, -100), hits=True)
            T.topk("c", t, x, 3, _red(8, mode), onehot_targets=True)
            T.onehot("c", t, x, _red(8, mode), hits=True)
            T.binary("c", labels.float(), x[:, 0], 0.5, _red(8, mode), hits=True)
            T.equal("c", x[:, 1], x[:, 0], _red(8, mode), hits=True)
    finally:
        T._kernels = original  # type: ignore[assignment]
    return calls


def _compile(calls: list, arch: int) -> list[str]:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from torch_keras_acc import _triton_kernels as compiled

    names = []
    for name, args, constexprs in calls:
        fn = getattr(compiled, name)
        signature = {}
        for arg_name, value in zip(fn.arg_names, args):
            if isinstance(value, torch.Tensor):
                signature[arg_name] = "*" + _TRITON_TYPES[value.dtype]
            else:
                signature[arg_name] = "i32" if -(2**31) <= value < 2**31 else "i64"
        signature.update({key: "constexpr" for key in constexprs})
        kernel = triton.compile(ASTSource(fn, signature, constexprs=constexprs), target=GPUTarget("cuda", arch, 32))
        assert ".entry" in kernel.asm["ptx"] and kernel.asm.get("cubin"), (name, arch)
        names.append(name)
    return names


def _offline_ok() -> bool:
    import triton

    from torch_keras_acc import _triton_kernels as compiled

    interpreted = os.environ.get("TRITON_INTERPRET") == "1" or not hasattr(compiled.argmax_kernel, "cache_key")
    return not interpreted and hasattr(compiled.argmax_kernel, "arg_names") and "nvidia" in getattr(triton.backends, "backends", {})


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the other tests compile every kernel for real")
@pytest.mark.filterwarnings("ignore:TRITON_DEFAULT_FP_FUSION")
@pytest.mark.parametrize("arch", [a for a, _ in TARGETS], ids=[n for _, n in TARGETS])
@pytest.mark.parametrize("dtype", DTYPES, ids=[str(d).replace("torch.", "") for d in DTYPES])
def test_triton_every_kernel_compiles_offline(dtype, arch, monkeypatch):
    if not _offline_ok():
        pytest.skip("needs triton's NVIDIA backend, and TRITON_INTERPRET unset")
    # Small tiles: the same code, compiled in seconds (the production tile sizes are compiled for
    # sm_90 by tests/test_triton.py's offline test, and for real by any GPU run).
    monkeypatch.setattr(T, "_TILE", 256)
    monkeypatch.setattr(T, "_MIN_BLOCK_C", 16)
    monkeypatch.setattr(T, "_BLOCK", 128)
    monkeypatch.setattr(T, "_BLOCK_G", 64)
    modes = (0, 1, 2, 3) if dtype == torch.float32 and os.environ.get("TKA_TRITON_COMPILE_ALL") == "1" else (2,)
    names = _compile(_launches(dtype, modes), arch)
    assert set(names) == {"argmax_kernel", "sparse_kernel", "topk_kernel", "onehot_kernel", "binary_kernel", "equal_kernel"}
