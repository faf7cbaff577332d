"""explain(), threshold_sweep() and the command line.

Keras's numbers come from tests/fixtures/keras_examples.json (real Keras on the
arrays of examples/example_data.py); scikit-learn's and torchmetrics' from
those libraries, called here directly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import torch_keras_acc as tka
from tests.conftest import FIXTURES
from torch_keras_acc.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
import example_data  # noqa: E402

KERAS = json.loads((FIXTURES / "keras_examples.json").read_text())["examples"]
BVC = KERAS["binary_vs_categorical"]


def test_binary_report_matches_keras_and_the_libraries():
    b = example_data.binary()
    r = tka.explain(b["y_true"], b["logits"])
    assert r.problem == "binary" and r.keras3["metric"] == BVC["one sigmoid column: resolved metric"]
    assert r.variants["binary_accuracy(threshold=0.5)"] == pytest.approx(BVC["logits, threshold 0.5"], abs=1e-6)
    assert r.variants["binary_accuracy(threshold=0.0)"] == pytest.approx(BVC["logits, threshold 0.0"], abs=1e-6)
    from sklearn.metrics import accuracy_score
    import torchmetrics

    assert r.external["sklearn accuracy_score"] == pytest.approx(accuracy_score(b["y_true"][:, 0], b["logits"][:, 0] > 0.5))
    tm = torchmetrics.Accuracy(task="binary")(torch.from_numpy(b["logits"][:, 0]), torch.from_numpy(b["y_true"][:, 0]).long())
    assert r.external["torchmetrics Accuracy(task='binary')"] == pytest.approx(float(tm))
    assert any("sigmoid" in d for d in r.differences)
    assert any("logits" in m for m in r.mistakes)


def test_multilabel_report_explains_subset_and_argmax():
    m = example_data.multilabel()
    r = tka.explain(m["y_true"], m["probs"], loss="binary_crossentropy")
    assert r.problem == "multilabel"
    assert (r.keras3["metric"], r.keras3["value"]) == (BVC["multi-label: resolved metric"], pytest.approx(BVC["multi-label: accuracy"], abs=1e-6))
    assert r.variants["binary_accuracy(threshold=0.5)"] == pytest.approx(BVC["multi-label: binary_accuracy"], abs=1e-6)
    assert r.legacy["metric"] == "LegacyBinaryAccuracy"  # Keras 2.2: binary crossentropy -> binary
    assert any("subset accuracy" in n for n in r.notes)
    assert any("Multi-label targets" in d for d in r.differences)


def test_multiclass_report_explains_macro():
    d = example_data.multiclass()
    r = tka.explain(d["y_true"], d["logits"], loss="sparse_categorical_crossentropy")
    assert r.keras3["value"] == pytest.approx(KERAS["classification_report"]["Keras accuracy"], abs=1e-6)
    from torchmetrics.classification import MulticlassAccuracy

    macro = float(MulticlassAccuracy(num_classes=5)(torch.from_numpy(d["logits"]), torch.from_numpy(d["y_true"])))
    assert r.external["torchmetrics MulticlassAccuracy() (macro)"] == pytest.approx(macro)
    assert any("macro" in x for x in r.differences)
    text = str(r)
    assert "Keras 3 'accuracy'" in text and "Why they differ" in text
    assert json.loads(r.to_json()) == r.to_dict()


def test_rank1_pytorch_layout_is_flagged():
    r = tka.explain(torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0.9, 0.2, 0.4]))
    assert r.keras3["metric"] == "CategoricalAccuracy"
    assert any("rank 1" in m for m in r.mistakes)


def test_missing_library_is_skipped_with_a_note(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.metrics", None)
    r = tka.explain([0, 1, 2], torch.eye(3))
    assert "sklearn accuracy_score" not in r.external
    assert any("scikit-learn is not installed" in n for n in r.notes)


def test_threshold_sweep_matches_keras_thresholds():
    b = example_data.binary()
    sweep = dict(tka.threshold_sweep(b["y_true"], b["logits"]))
    assert sweep[0.0] == pytest.approx(BVC["logits, threshold 0.0"], abs=1e-6)
    assert sweep[0.5] == pytest.approx(BVC["logits, threshold 0.5"], abs=1e-6)


# -- command line --------------------------------------------------------------
@pytest.fixture
def files(tmp_path):
    b = example_data.binary()
    y, p = b["y_true"], b["logits"]
    paths = {}
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "p.npy", p)
    np.savez(tmp_path / "both.npz", labels=y, logits=p)
    torch.save(torch.from_numpy(y), tmp_path / "y.pt")
    torch.save(torch.from_numpy(p), tmp_path / "p.pt")
    np.savetxt(tmp_path / "y.csv", y, delimiter=",", header="label", comments="")
    np.savetxt(tmp_path / "p.csv", p, delimiter=",", fmt="%.9g")
    paths.update(
        npy=(tmp_path / "y.npy", tmp_path / "p.npy"),
        npz=(f"{tmp_path / 'both.npz'}:labels", f"{tmp_path / 'both.npz'}:logits"),
        pt=(tmp_path / "y.pt", tmp_path / "p.pt"),
        csv=(tmp_path / "y.csv", tmp_path / "p.csv"),
    )
    return paths


@pytest.mark.parametrize("fmt", ["npy", "npz", "pt", "csv"])
def test_cli_reads_every_format(files, fmt, capsys):
    y, p = files[fmt]
    assert main(["explain", "--y-true", str(y), "--y-pred", str(p), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    want = BVC["logits, threshold 0.5"]
    # csv squeezes (N, 1) to (N,), which Keras resolves differently: compare the binary variant
    assert out["variants"]["binary_accuracy(threshold=0.5)"] == pytest.approx(want, abs=1e-6)


def test_cli_table_sweep_and_plot(files, tmp_path, capsys):
    y, p = files["npy"]
    png = tmp_path / "sweep.png"
    assert main(["explain", "--y-true", str(y), "--y-pred", str(p), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "Keras 3 'accuracy'" in out and "Threshold sweep" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda d: d / "missing.npy", "no such file"),
        (lambda d: (d / "x.txt").write_text("1,2") and d / "x.txt", "unsupported file type"),
        (lambda d: (d / "bad.npy").write_bytes(b"not numpy") and d / "bad.npy", "could not read it as .npy"),
        (lambda d: (d / "bad.csv").write_text("a,b\n1,x\n") and d / "bad.csv", "could not read it as .csv"),
    ],
)
def test_cli_errors_are_clear(tmp_path, files, make, match, capsys):
    bad = make(tmp_path)
    assert main(["explain", "--y-true", str(bad), "--y-pred", str(files["npy"][1])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and match in err and "Traceback" not in err


def test_cli_shape_mismatch_and_npz_key(tmp_path, files, capsys):
    np.save(tmp_path / "short.npy", np.zeros((3, 1), dtype=np.float32))
    assert main(["explain", "--y-true", str(tmp_path / "short.npy"), "--y-pred", str(files["npy"][1])]) == 2
    assert "error: " in capsys.readouterr().err
    npz = str(files["npz"][0]).rsplit(":", 1)[0]
    assert main(["explain", "--y-true", f"{npz}:nope", "--y-pred", str(files["npy"][1])]) == 2
    assert "no array 'nope'" in capsys.readouterr().err


def test_module_entry_point(files):
    y, p = files["npy"]
    out = subprocess.run([sys.executable, "-m", "torch_keras_acc", "explain", "--y-true", str(y), "--y-pred", str(p)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "Why they differ" in out.stdout
