"""from_keras_model against real Keras model files and real model.evaluate results
(tests/fixtures/keras_models.json and keras_models/, written by gen_keras_models.py):
Keras 3 .keras files (sparse labels with metrics + weighted_metrics, a binary head with
two thresholds, one-hot labels) and a tf_keras HDF5 file, all evaluated with sample weights."""

from __future__ import annotations

import json
import os
import zipfile

import pytest
import torch

import torch_keras_acc as tka
from tests.conftest import FIXTURES

DOC_PATH = FIXTURES / "keras_models.json"
DOC = json.loads(DOC_PATH.read_text()) if DOC_PATH.exists() else {"models": [], "refused": []}
BATCH = 8  # the generator's evaluate batch size


def _tensors(case):
    y_pred = torch.tensor(case["y_pred"], dtype=torch.float32)
    y_true = torch.tensor(case["y_true"], dtype=torch.int64 if case["labels"] == "sparse" else torch.float32)
    return y_pred, y_true, torch.tensor(case["sample_weight"], dtype=torch.float32)


def _check(case, metrics):
    assert sorted(metrics.keys()) == sorted(k for k in case["evaluate_keys"] if k != "loss")
    y_pred, y_true, w = _tensors(case)
    for i in range(0, len(y_pred), BATCH):  # as evaluate batches them
        metrics.update(y_pred[i : i + BATCH], y_true[i : i + BATCH], sample_weight=w[i : i + BATCH])
    got = {k: float(v) for k, v in metrics.compute().items()}
    for key, want in case["evaluate"].items():
        assert got[key] == pytest.approx(want, abs=1e-6), key


def test_fixture_covers_the_issue():
    ids = {c["id"] for c in DOC["models"]}
    assert {"sparse", "binary_two_thresholds", "onehot", "tf_keras_sparse_h5"} <= ids
    sparse = next(c for c in DOC["models"] if c["id"] == "sparse")
    assert "weighted_accuracy" in sparse["evaluate"] and "accuracy" in sparse["evaluate"]


@pytest.mark.parametrize("case", [c for c in DOC["models"] if c["file"].endswith(".keras")], ids=lambda c: c["id"])
def test_keras_file_equals_evaluate(case):
    _check(case, tka.from_keras_model(FIXTURES / case["file"]))


@pytest.mark.parametrize("case", [c for c in DOC["models"] if c["file"].endswith(".h5")], ids=lambda c: c["id"])
def test_h5_file_equals_evaluate(case):
    pytest.importorskip("h5py")
    _check(case, tka.from_keras_model(str(FIXTURES / case["file"])))


@pytest.mark.parametrize("case", [c for c in DOC["models"] if c["file"].endswith(".keras")], ids=lambda c: c["id"])
def test_live_keras_model_equals_evaluate(case):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    model = keras.saving.load_model(FIXTURES / case["file"])
    # dyadic weights and integer inputs: the loaded model predicts exactly what Keras recorded
    assert model.predict(torch.tensor(case["x"]).numpy(), verbose=0).tolist() == case["y_pred"]
    _check(case, tka.from_keras_model(model))


def test_prefix_gives_fit_validation_names():
    case = next(c for c in DOC["models"] if c["id"] == "sparse")
    keys = tka.from_keras_model(FIXTURES / case["file"], prefix="val_").keys()
    assert sorted(keys) == sorted(f"val_{k}" for k in case["evaluate_keys"] if k != "loss")


@pytest.mark.parametrize("case", DOC["refused"], ids=lambda c: c["file"])
def test_unsupported_models_are_refused_by_name(case):
    with pytest.raises(ValueError, match=case["error"]):
        tka.from_keras_model(FIXTURES / case["file"])


def test_files_that_are_not_models(tmp_path):
    with pytest.raises(FileNotFoundError, match="from_keras_model: no such file"):
        tka.from_keras_model(tmp_path / "missing.keras")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="neither a Keras 3 .keras file"):
        tka.from_keras_model(tmp_path / "notes.txt")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("data.csv", "1,2")
    with pytest.raises(ValueError, match="without config.json"):
        tka.from_keras_model(tmp_path / "other.zip")
    with zipfile.ZipFile(tmp_path / "uncompiled.keras", "w") as z:
        z.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {}}))
    with pytest.raises(ValueError, match="saved uncompiled"):
        tka.from_keras_model(tmp_path / "uncompiled.keras")
    with pytest.raises(TypeError, match="expected a path to a .keras or .h5 file or a compiled Keras model"):
        tka.from_keras_model(42)


def test_live_uncompiled_and_multi_output_models_are_refused():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    inp = keras.Input((3,))
    with pytest.raises(ValueError, match="is not compiled"):
        tka.from_keras_model(keras.Model(inp, keras.layers.Dense(2)(inp)))
    two = keras.Model(inp, [keras.layers.Dense(2)(inp), keras.layers.Dense(2)(inp)])
    two.compile(loss=["mse", "mse"])
    with pytest.raises(ValueError, match="has 2 outputs"):
        tka.from_keras_model(two)


def test_compile_configs_keras_writes(tmp_path):
    # Serialized entries as Keras writes them: functions by name, objects with module/registered_name.
    path = tmp_path / "m.keras"
    entries = [
        {"module": "keras.metrics", "class_name": "function", "config": "sparse_categorical_accuracy", "registered_name": "function"},
        {"module": "keras.metrics", "class_name": "SparseTopKCategoricalAccuracy", "config": {"name": "top3", "dtype": "float32", "k": 3}, "registered_name": None},
    ]
    compile_config = {"loss": {"module": "keras.losses", "class_name": "SparseCategoricalCrossentropy", "config": {}}, "metrics": entries,
                      "weighted_metrics": None}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {}, "compile_config": compile_config}))
    metrics = tka.from_keras_model(path)
    assert sorted(metrics.keys()) == ["sparse_categorical_accuracy", "top3"]
    assert metrics["top3"].k == 3
    compile_config["metrics"] = [{"module": "__main__", "class_name": "function", "config": "my_metric", "registered_name": "function"}]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {}, "compile_config": compile_config}))
    with pytest.raises(ValueError, match="the function 'my_metric'.*does not provide"):
        tka.from_keras_model(path)
    compile_config["metrics"] = {"head0": ["accuracy"], "head1": ["accuracy"]}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps({"class_name": "Functional", "config": {}, "compile_config": compile_config}))
    with pytest.raises(ValueError, match=r"metrics per output \(\['head0', 'head1'\]\); only single-output models"):
        tka.from_keras_model(path)


def test_h5_without_h5py_says_so(monkeypatch):
    case = next((c for c in DOC["models"] if c["file"].endswith(".h5")), None)
    if case is None:
        pytest.skip("fixture missing")
    import builtins

    real_import = builtins.__import__

    def no_h5py(name, *args, **kwargs):
        if name == "h5py":
            raise ImportError("no h5py")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_h5py)
    with pytest.raises(ImportError, match="needs h5py: pip install h5py"):
        tka.from_keras_model(FIXTURES / case["file"])
