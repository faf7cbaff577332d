"""The Triton kernels are checked at first use, and a kernel that fails falls back (torch_keras_acc/_verify.py).

On the CPU, under ``kernel_path("triton")``, the kernels run interpreted: the same checks a
CUDA device runs. A deliberately wrong kernel must give one warning naming the kernel, the
dtype and the device, and the right result. Every test name contains ``triton``.
"""

from __future__ import annotations

import sys
import warnings

import pytest
import torch

pytest.importorskip("triton", reason="the Triton kernels need triton")

import torch_keras_acc as tka  # noqa: E402
from torch_keras_acc import _dispatch, _switch, _triton, _verify  # noqa: E402

CPU = torch.device("cpu")
_G = torch.Generator().manual_seed(3)
P, Y = torch.rand(40, generator=_G), (torch.rand(40, generator=_G) > 0.5).float()


@pytest.fixture
def fresh_checks(monkeypatch):
    """No kernel checked yet in this process (each test sees first use)."""
    monkeypatch.setattr(_verify, "_CHECKS", {})


def _wrong_threshold(monkeypatch):
    """A deliberately wrong binary kernel: it compares against 0.9 whatever the threshold."""
    right = _triton.binary_consts.__wrapped__
    monkeypatch.setattr(_triton, "binary_consts", lambda threshold, p, t: right(0.9, p, t))


def _binary_updates(path: str = "triton") -> tuple[torch.Tensor, list, set]:
    m = tka.BinaryAccuracy()
    with warnings.catch_warnings(record=True) as caught, tka.kernel_path(path) as log:
        warnings.simplefilter("always")
        for _ in range(3):
            m.update(P, Y)
    return m.compute(), [w for w in caught if issubclass(w.category, RuntimeWarning)], set(log.used)


def test_triton_verify_wrong_kernel_warns_once_and_gives_the_right_result(fresh_checks, monkeypatch):
    _wrong_threshold(monkeypatch)
    got, warned, used = _binary_updates()
    want, _, _ = _binary_updates("reference")
    assert torch.equal(got, want)
    assert len(warned) == 1, [str(w.message) for w in warned]
    message = str(warned[0].message)
    for part in ("binary", "float32", "cpu", "failed its check", "report", "check-kernels"):
        assert part in message, message
    assert not any(k.startswith("fused") for k in used)  # fell back for the rest of the process
    assert "FELL BACK" in str(tka.check_kernels("cpu", dtypes=["float32"], kernels=["binary"]))


def test_triton_verify_first_real_batch_is_compared_too(fresh_checks, monkeypatch):
    """A kernel whose probe passes but whose answer on a real batch differs: caught at its first batch."""
    _wrong_threshold(monkeypatch)
    monkeypatch.setitem(_verify._PROBES, "binary", lambda dtype, device, hits: "")
    got, warned, _ = _binary_updates()
    want, _, _ = _binary_updates("reference")
    assert torch.equal(got, want)
    assert len(warned) == 1 and "first real batch" in str(warned[0].message)


def test_triton_verify_launch_error_falls_back(fresh_checks, monkeypatch):
    def broken(name, device):
        raise RuntimeError("no kernel image is available for execution on the device")

    monkeypatch.setattr(_triton, "_kernels", broken)
    got, warned, _ = _binary_updates()
    want, _, _ = _binary_updates("reference")
    assert torch.equal(got, want)
    assert len(warned) == 1 and "no kernel image" in str(warned[0].message)


def test_triton_verify_passing_kernel_is_verified_on_probe_and_first_batch(fresh_checks):
    got, warned, used = _binary_updates()
    want, _, _ = _binary_updates("reference")
    assert torch.equal(got, want) and not warned and "fused binary" in used
    check = _verify._CHECKS[("binary", "float32", "cpu")]
    assert check.status == "verified" and check.probe and check.first_batch


def test_triton_check_kernels_report_and_cli(fresh_checks, capsys):
    report = tka.check_kernels("cpu", dtypes=["bfloat16", torch.int32], kernels=["sparse_argmax", "equal"])
    assert report.ok and len(report.results) == 4
    text = str(report)
    assert "sparse_argmax" in text and "bfloat16" in text and "verified" in text and "default path" in text
    from torch_keras_acc.__main__ import main

    assert main(["check-kernels", "--device", "cpu", "--dtype", "float32", "--kernel", "equal"]) == 0
    assert "equal" in capsys.readouterr().out
    assert main(["check-kernels", "--kernel", "nope"]) == 2
    with pytest.raises(ValueError, match="unknown kernel"):
        tka.check_kernels("cpu", kernels=["nope"])


def test_triton_default_on_cuda_and_the_switches(monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.setitem(_switch.DEFAULT_ON_CUDA, "triton", True)
    assert _dispatch.triton_in_force(cuda) and not _dispatch.triton_in_force(CPU)  # CPU: only when forced
    with tka.kernel_path("triton"):
        assert _dispatch.triton_in_force(CPU)
    with tka.kernel_path("reference"):
        assert not _dispatch.triton_in_force(cuda)
    monkeypatch.setitem(_switch.DEFAULT_ON_CUDA, "triton", False)
    assert not _dispatch.triton_in_force(cuda)
    import importlib.util

    for env, want in (("1", True), ("0", False), (None, True)):  # read at import: load _switch.py afresh
        if env is None:
            monkeypatch.delenv("TORCH_KERAS_ACC_TRITON", raising=False)
        else:
            monkeypatch.setenv("TORCH_KERAS_ACC_TRITON", env)
        spec = importlib.util.spec_from_file_location("tka_paths_env", _switch.__file__)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, "tka_paths_env", module)  # dataclasses look their module up
        spec.loader.exec_module(module)
        assert module.DEFAULT_ON_CUDA["triton"] is want, env


def test_triton_table_row_first_call_is_compared_too(fresh_checks, monkeypatch):
    """The argmax table's triton row (the hits path): a wrong answer on its first real call
    warns once, returns the reference's answer, and the row is skipped from then on."""
    from torch_keras_acc._dispatch import argmax_last
    from torch_keras_acc._reference import argmax_last_reference as _argmax_last_reference

    monkeypatch.setitem(_verify._PROBES, "argmax", lambda dtype, device, hits: "")
    monkeypatch.setattr(_triton, "argmax", lambda x, keras3_zero_rule=True: torch.zeros(x.shape[0], dtype=torch.int64))
    x = torch.randn(6, 4, generator=_G)
    x[:, 0] = -10.0  # no row's argmax is 0: the wrong kernel is wrong everywhere
    with warnings.catch_warnings(record=True) as caught, tka.kernel_path("triton") as log:
        warnings.simplefilter("always")
        first, second = argmax_last(x), argmax_last(x)
    assert torch.equal(first, _argmax_last_reference(x)) and torch.equal(second, first)
    warned = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(warned) == 1 and "argmax" in str(warned[0].message) and "first real batch" in str(warned[0].message)
    assert log.used["argmax"] == {"triton", "reference"}  # the first call ran the row, the second skipped it
