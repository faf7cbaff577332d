"""examples/lightning_ddp.py runs as its docstring says: 2 processes, Keras-style lines, exact validation values."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("lightning")

from tests.conftest import run_ddp_script  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VALUE = r"(\d\.\d{4})"


def test_lightning_ddp_example_prints_keras_epoch_lines() -> None:
    out = run_ddp_script([sys.executable, str(ROOT / "examples" / "lightning_ddp.py")], 240, ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    lines = out.stdout.splitlines()
    # printed once (rank 0 only), Keras's layout: "Epoch i/n" then "steps/steps - name: value - ..."
    assert [line for line in lines if line.startswith("Epoch")] == ["Epoch 1/2", "Epoch 2/2"]
    names = ("sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy")
    train_values = " - ".join(f"{n}: {VALUE}" for n in names)
    val_values = " - ".join(f"val_{n}: {VALUE}" for n in names)
    epoch_line = re.compile(f"^8/8 - {train_values} - {val_values}$")  # 1024 samples / 2 ranks / batch 64
    epochs = [m.groups() for m in map(epoch_line.match, lines) if m]
    assert len(epochs) == 2, out.stdout
    # the last synced validation values are the trained model's on all 251 samples in one process
    final = re.search(r"^One process, all 251 validation samples: " + val_values + "$", out.stdout, re.M)
    assert final, out.stdout
    assert final.groups() == epochs[-1][2:]
