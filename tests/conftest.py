"""Shared helpers: loading the Keras reference fixtures and decoding their inputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import torch_keras_acc as tka

FIXTURES = Path(__file__).parent / "fixtures"

# The generator imports TensorFlow; it is run by hand, never collected.
collect_ignore = [
    "fixtures/generate.py", "fixtures/gen_accuracy_string.py", "fixtures/gen_examples.py", "fixtures/gen_masks.py",
    "fixtures/gen_collection.py", "fixtures/gen_edges.py", "fixtures/fuzz.py", "fixtures/gen_keras_models.py", "fixtures/gen_wrapper.py",
]

# Keras's function name -> our class, for the six metrics (from the one registry).
CLASSES = {entry.name: entry.cls for entry in tka.registry.KERAS}

TORCH_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int8": torch.int8,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
    "int8": torch.int8,
}


@lru_cache(maxsize=None)
def parity() -> dict:
    """The generator's output: versions and cases (see tests/fixtures/generate.py)."""
    return json.loads((FIXTURES / "keras_parity.json").read_text())


def cases(**filters: Any) -> list[dict]:
    return [c for c in parity()["cases"] if all(c.get(k) == v for k, v in filters.items())]


def case_params(selected: list[dict]) -> list:
    return [pytest.param(c, id=c["id"]) for c in selected]


def to_torch(spec: dict | None, kind: str = "tensor") -> Any:
    """Decode a fixture input as a torch tensor (or as NumPy / the raw list).

    An input recorded as ``"list"`` is the raw list (a Python scalar when 0-d); one
    recorded as ``"numpy"`` is always a NumPy array of its dtype and shape (0-d stays
    0-d, bfloat16 is ``ml_dtypes.bfloat16``), as Keras got it; ``kind`` is ignored then."""
    if spec is None:
        return None
    if spec["as"] == "list":
        return spec["data"]
    if spec["as"] == "numpy":
        return _numpy(spec)
    dtype = TORCH_DTYPES[spec["dtype"]]
    if dtype.is_floating_point:
        t = torch.tensor(spec["data"], dtype=torch.float64).to(dtype)
    else:
        t = torch.tensor(spec["data"], dtype=dtype)
    t = t.reshape(spec["shape"])
    if kind == "numpy" and dtype != torch.bfloat16:
        return t.numpy()
    return t


def _numpy(spec: dict) -> np.ndarray:
    if spec["dtype"] == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes")  # NumPy's bfloat16 (what TensorFlow and JAX hold)
        np_dtype: Any = ml_dtypes.bfloat16
    else:
        np_dtype = np.dtype(spec["dtype"])
    integral = spec["dtype"] == "bool" or "int" in spec["dtype"]
    return np.asarray(spec["data"], dtype=None if integral else np.float64).reshape(spec["shape"]).astype(np_dtype)


def expected_for(case: dict) -> dict:
    """What we promise: Keras 3's answer, or for a documented deviation the
    generator's ``reference`` (Keras 3 on values widened to float32, or tf_keras)."""
    return case["reference"] if case.get("deviation") else case["keras3"]


def assert_value(got: torch.Tensor, want: float, what: str, atol: float = 1e-6) -> None:
    g = float(got)
    if np.isnan(want):
        assert np.isnan(g), f"{what}: got {g}, Keras gave nan"
    else:
        assert abs(g - want) <= atol, f"{what}: got {g!r}, Keras gave {want!r}"


# Every metric class: the six, the string "accuracy", and Keras 2.2's three.
METRIC_CLASSES = [entry.cls for entry in tka.registry.ENTRIES]


def synthetic_batch(cls: type, n: int, c: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ``(preds, target)`` of the kind ``cls`` takes, with a NaN score and
    sparse labels out of range on both sides (for tests of paths, not of values)."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, c, generator=gen)
    scores[0, 1 % c] = float("nan")
    labels = torch.randint(-1, c + 1, (n,), generator=gen)
    if cls in (tka.BinaryAccuracy, tka.LegacyBinaryAccuracy):
        return torch.rand(n, 1, generator=gen), torch.randint(0, 2, (n, 1), generator=gen).float()
    if cls is tka.Accuracy:
        return scores.argmax(-1), labels
    if cls in (tka.CategoricalAccuracy, tka.TopKCategoricalAccuracy, tka.LegacyCategoricalAccuracy):
        return scores, torch.nn.functional.one_hot(labels.clamp(0, c - 1), c).float()
    return scores, labels


# PyTorch's gloo backend, after DDP training, can abort a worker as it exits (SIGABRT,
# "terminate called without an active exception"; pytorch/pytorch#190489, open). Seen
# here in 1 to 3 of 100 bare DDP runs, more rarely under Lightning, and once in CI.
# A gloo thread still releasing the last gradient all-reduce drops a Python object (the
# autograd context saved with the work), which needs the GIL while the interpreter is
# being finalized. Calling destroy_process_group() first did not prevent it (same rate,
# measured). It happens only after training has finished.
GLOO_EXIT_ABORT = "terminate called without an active exception"


def _is_gloo_exit_abort(proc: subprocess.CompletedProcess) -> bool:
    log = proc.stdout + proc.stderr
    return proc.returncode != 0 and GLOO_EXIT_ABORT in log and "terminated with signal SIGABRT" in log and "`Trainer.fit` stopped" in log


def run_ddp_script(cmd: list[str], timeout: float, cwd: Path, fresh_dir: Path | None = None) -> subprocess.CompletedProcess:
    """Run a Lightning DDP script in a subprocess (a stuck process group cannot hang the suite).

    Run once more, with ``fresh_dir`` emptied, if and only if a worker hit the gloo abort at
    exit above after ``Trainer.fit`` finished; any other failure, or a second abort, is returned.
    """
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if not _is_gloo_exit_abort(proc):
        return proc
    warnings.warn(f"a gloo worker aborted at exit after training (pytorch/pytorch#190489); running {cmd[-1][:60]!r} once more")
    if fresh_dir is not None:
        shutil.rmtree(fresh_dir)
        fresh_dir.mkdir()
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
