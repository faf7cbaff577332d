"""The command line's report: the sweep where it means something, clear errors, float32 JSON, the plot.

Keras's numbers come from tests/fixtures/keras_examples.json (real Keras on
the arrays of examples/example_data.py).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FIXTURES
from torch_keras_acc.__main__ import KERAS_LOSSES, TORCH_LOSSES, check_loss, main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
import example_data  # noqa: E402

BVC = json.loads((FIXTURES / "keras_examples.json").read_text())["examples"]["binary_vs_categorical"]


@pytest.fixture
def arrays(tmp_path):
    b, m, ml = example_data.binary(), example_data.multiclass(), example_data.multilabel()
    files = {
        "binary": (b["y_true"], b["logits"]),
        "multiclass": (m["y_true"], m["logits"]),
        "onehot": (np.eye(m["logits"].shape[1], dtype=np.float32)[m["y_true"]], m["logits"]),
        "multilabel": (ml["y_true"], ml["probs"]),
    }
    out = {}
    for name, (y, p) in files.items():
        np.save(tmp_path / f"{name}_y.npy", y)
        np.save(tmp_path / f"{name}_p.npy", p)
        out[name] = ["--y-true", str(tmp_path / f"{name}_y.npy"), "--y-pred", str(tmp_path / f"{name}_p.npy")]
    return out


@pytest.mark.parametrize("problem", ["multiclass", "onehot"])
def test_sweep_is_skipped_with_a_reason_and_the_report_kept(arrays, problem, capsys, tmp_path):
    png = tmp_path / "sweep.png"
    assert main(["explain", *arrays[problem], "--sweep", "--plot", str(png)]) == 0
    captured = capsys.readouterr()
    assert "Keras 3 'accuracy'" in captured.out  # the report
    assert "threshold sweep skipped: this is a multiclass problem" in captured.out and "argmax" in captured.out
    assert "no plot written" in captured.err and not png.exists()
    assert main(["explain", *arrays[problem], "--sweep", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["threshold_sweep"] is None and "multiclass" in out["threshold_sweep_note"] and out["keras3"]["metric"]


@pytest.mark.parametrize("problem", ["binary", "multilabel"])
def test_sweep_runs_on_binary_and_multilabel(arrays, problem, capsys):
    assert main(["explain", *arrays[problem], "--sweep", "--json"]) == 0
    sweep = {row["threshold"]: row["binary_accuracy"] for row in json.loads(capsys.readouterr().out)["threshold_sweep"]}
    if problem == "binary":
        assert sweep[0.0] == pytest.approx(BVC["logits, threshold 0.0"], abs=1e-6)
        assert sweep[0.5] == pytest.approx(BVC["logits, threshold 0.5"], abs=1e-6)
    else:
        assert sweep[0.5] == pytest.approx(BVC["multi-label: binary_accuracy"], abs=1e-6)


def test_the_threshold_in_use_is_a_point_of_the_sweep(arrays, capsys):
    assert main(["explain", *arrays["binary"], "--threshold", "0.123", "--sweep", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0.123 in [row["threshold"] for row in out["threshold_sweep"]]


def test_json_numbers_are_float32_values(arrays, capsys):
    assert main(["explain", *arrays["binary"], "--sweep", "--json"]) == 0
    text = capsys.readouterr().out
    out = json.loads(text)
    numbers = [v for v in out["variants"].values()] + [row["binary_accuracy"] for row in out["threshold_sweep"]]
    for v in numbers:
        assert v == float(str(np.float32(v)))  # the shortest repr of a float32
        assert len(repr(v)) <= 12, v  # 0.828125, not 0.8281250000000001 or 0.23999999463558197
    assert out["variants"]["binary_accuracy(threshold=0.5)"] == float(str(np.float32(BVC["logits, threshold 0.5"])))


@pytest.mark.parametrize("content,match", [("", "it is empty"), ("label\n", "only a header line"), ("\n\n", "it is empty")])
def test_empty_csv_is_a_clear_error_without_numpy_warnings(tmp_path, arrays, content, match, capsys):
    (tmp_path / "empty.csv").write_text(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's "loadtxt: input contained no data" would fail here
        assert main(["explain", "--y-true", str(tmp_path / "empty.csv"), "--y-pred", arrays["binary"][3]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "holds no rows of numbers" in err and match in err


def test_empty_array_is_a_clear_error(tmp_path, arrays, capsys):
    np.save(tmp_path / "none.npy", np.zeros((0, 1), dtype=np.float32))
    assert main(["explain", "--y-true", str(tmp_path / "none.npy"), "--y-pred", arrays["binary"][3]]) == 2
    assert "holds no values (shape (0, 1))" in capsys.readouterr().err


def test_unknown_loss_is_rejected_with_the_closest_names(arrays, capsys):
    assert main(["explain", *arrays["binary"], "--loss", "binary_crosentropy"]) == 2
    err = capsys.readouterr().err
    assert "'binary_crosentropy' is not a Keras or PyTorch loss name" in err and "did you mean 'binary_crossentropy'" in err
    assert main(["explain", *arrays["binary"], "--loss", "BCEWithLogitsLoss"]) == 0  # PyTorch's names, any case
    assert check_loss("Binary_CrossEntropy") == "Binary_CrossEntropy"


def test_every_keras_loss_name_we_accept_is_one_keras_knows():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    for name in KERAS_LOSSES:
        assert keras.losses.get(name) is not None, name
    import torch

    for name in TORCH_LOSSES:
        assert hasattr(torch.nn, name) or hasattr(torch.nn.functional, name), name


def test_plot_marks_thresholds_and_fixes_the_axis(arrays, tmp_path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    saved = {}
    monkeypatch.setattr(plt.Figure, "savefig", lambda fig, path, *a, **k: saved.update(fig=fig, path=path))
    monkeypatch.setattr(plt, "close", lambda fig=None: None)
    assert main(["explain", *arrays["binary"], "--plot", str(tmp_path / "s.png")]) == 0
    ax = saved["fig"].axes[0]
    assert ax.get_ylim() == (0.0, 1.0)
    title = ax.get_title()
    assert "N = 64" in title and "binary_accuracy" in title
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(lbl.startswith("threshold used: t = 0.5") for lbl in labels)
    best = max(json_sweep(arrays["binary"]).values())
    assert any(lbl.startswith("best: t = ") and f"({best:.4f})" in lbl for lbl in labels)
    plt.close(saved["fig"])


def json_sweep(args):
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(["explain", *args, "--sweep", "--json"])
    return {row["threshold"]: row["binary_accuracy"] for row in json.loads(buf.getvalue())["threshold_sweep"]}


def test_plot_without_matplotlib_keeps_the_report(arrays, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["explain", *arrays["binary"], "--plot", str(tmp_path / "s.png")]) == 2
    captured = capsys.readouterr()
    assert "Keras 3 'accuracy'" in captured.out and "Threshold sweep" in captured.out
    assert "--plot needs matplotlib" in captured.err
