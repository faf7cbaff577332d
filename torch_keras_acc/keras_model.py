"""``from_keras_model``: the metrics a saved or live Keras model was compiled with, as a collection.

A Keras model carries its compile config: a Keras 3 ``.keras`` file is a zip
whose ``config.json`` holds ``compile_config``; a tf_keras HDF5 ``.h5`` file
holds ``training_config`` (JSON) as a root attribute; a live model returns it
from ``get_compile_config()``. ``from_keras_model`` reads ``metrics``,
``weighted_metrics`` and ``loss`` from it and returns the
``collection`` that reproduces ``model.evaluate``: the same
keys (but ``"loss"``, which is the model's) and, on the same predictions, labels
and sample weights, the same values. Reading a ``.keras`` file needs neither
Keras nor TensorFlow; an ``.h5`` file needs ``h5py``.

Example:
    >>> import json, os, tempfile, zipfile
    >>> import torch_keras_acc as tka
    >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
    >>> compile_config = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
    ...                   "weighted_metrics": ["accuracy"]}
    >>> with zipfile.ZipFile(path, "w") as z:  # what model.save("model.keras") writes, in short
    ...     z.writestr("config.json", json.dumps({"class_name": "Sequential", "compile_config": compile_config}))
    >>> sorted(tka.from_keras_model(path, prefix="val_").keys())
    ['val_accuracy', 'val_weighted_accuracy']
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

from torchmetrics import MetricCollection

from torch_keras_acc import registry
from torch_keras_acc.collection import collection

__all__ = ["from_keras_model"]

_WHO = "from_keras_model"


def from_keras_model(model_or_path: Any, *, prefix: str | None = None) -> MetricCollection:
    """The collection that reproduces ``model.evaluate`` for a Keras model's compiled metrics.

    Args:
        model_or_path: a path to a Keras 3 ``.keras`` file or a tf_keras ``.h5``
            file, or a live compiled Keras 3 / tf_keras model.
        prefix: prepended to every key (``"val_"`` for the names ``fit`` logs on validation data).

    Returns:
        A ``MetricCollection`` keyed as ``model.evaluate(..., return_dict=True)``,
        without its ``"loss"``: ``metrics=`` entries ignore ``sample_weight``,
        ``weighted_metrics=`` entries use it (``weighted_<name>`` on a clash).
        Update it with ``(y_pred, y_true, sample_weight=None)``, the model's outputs first.

    Raises:
        ValueError: the model has several outputs, was not compiled, or was compiled
            with a metric this library does not provide (the message names it).
        ImportError: an ``.h5`` file without ``h5py`` installed.
    """
    config, source = _compile_config(model_or_path)
    for key in ("metrics", "weighted_metrics"):
        _check_single_output(config.get(key), key, source)
    loss = config.get("loss")
    _check_single_output_loss(loss, source)
    metrics = [_item(m, source, "metrics") for m in _as_list(config.get("metrics"))]
    weighted = [_item(m, source, "weighted_metrics") for m in _as_list(config.get("weighted_metrics"))]
    if not metrics and not weighted:
        raise ValueError(f"{_WHO}: {source} was compiled without metrics or weighted_metrics; there is nothing to reproduce")
    return collection(metrics, weighted_metrics=weighted, loss=_loss(loss), prefix=prefix)


# -- reading the compile config ------------------------------------------------------


def _compile_config(model_or_path: Any) -> tuple[dict[str, Any], str]:
    """(the compile config, a description of where it came from for messages)."""
    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{_WHO}: no such file {path!r}")
        if zipfile.is_zipfile(path):
            return _from_keras_file(path), repr(path)
        with open(path, "rb") as f:
            if f.read(8) == b"\x89HDF\r\n\x1a\n":
                return _from_h5_file(path), repr(path)
        raise ValueError(f"{_WHO}: {path!r} is neither a Keras 3 .keras file (a zip) nor a tf_keras .h5 file (HDF5)")
    get_compile_config = getattr(model_or_path, "get_compile_config", None)
    if not callable(get_compile_config):
        raise TypeError(f"{_WHO}: expected a path to a .keras or .h5 file or a compiled Keras model, got {type(model_or_path).__name__}")
    source = f"the {type(model_or_path).__name__} model"
    outputs = getattr(model_or_path, "outputs", None)
    if isinstance(outputs, (list, tuple)) and len(outputs) > 1:
        raise ValueError(f"{_WHO}: {source} has {len(outputs)} outputs; only single-output models are supported (one collection per output)")
    config = get_compile_config()
    if not config:
        raise ValueError(f"{_WHO}: {source} is not compiled; call model.compile(metrics=[...]) first")
    return dict(config), source


def _from_keras_file(path: str) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        if "config.json" not in archive.namelist():
            raise ValueError(f"{_WHO}: {path!r} is a zip without config.json: not a Keras 3 .keras file")
        model_config = json.loads(archive.read("config.json"))
    outputs = _output_count(model_config.get("config"))
    if outputs > 1:
        raise ValueError(f"{_WHO}: {path!r} holds a model with {outputs} outputs; only single-output models are supported")
    compile_config = model_config.get("compile_config")
    if not compile_config:
        raise ValueError(f"{_WHO}: {path!r} holds no compile_config: the model was saved uncompiled")
    return dict(compile_config)


def _from_h5_file(path: str) -> dict[str, Any]:
    try:
        import h5py
    except ImportError:
        raise ImportError(f"{_WHO}: reading {path!r} (HDF5) needs h5py: pip install h5py") from None
    with h5py.File(path, "r") as f:
        raw = f.attrs.get("training_config")
        model_raw = f.attrs.get("model_config")
    if raw is None:
        raise ValueError(f"{_WHO}: {path!r} has no training_config attribute: the model was saved uncompiled")
    if model_raw is not None:
        model_config = json.loads(model_raw.decode() if isinstance(model_raw, bytes) else model_raw)
        outputs = _output_count(model_config.get("config"))
        if outputs > 1:
            raise ValueError(f"{_WHO}: {path!r} holds a model with {outputs} outputs; only single-output models are supported")
    return dict(json.loads(raw.decode() if isinstance(raw, bytes) else raw))


def _output_count(model_config: Any) -> int:
    """A functional model's number of outputs from its config (1 for Sequential and unknown kinds).
    Keras 3 writes one output as ``["dense", 0, 0]``, several as a list of such lists."""
    if not isinstance(model_config, dict):
        return 1
    outputs = model_config.get("output_layers")
    if isinstance(outputs, dict):
        return len(outputs)
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], (list, dict)):
        return len(outputs)
    return 1


# -- converting the entries ----------------------------------------------------------------


def _as_list(entries: Any) -> list[Any]:
    if entries is None:
        return []
    if isinstance(entries, (list, tuple)):
        # tf_keras saves a trained model's metrics per output: [[...]] for one output.
        if len(entries) == 1 and isinstance(entries[0], (list, tuple)):
            return list(entries[0])
        return list(entries)
    return [entries]  # one metric instead of a list: compile accepts it


def _check_single_output(entries: Any, key: str, source: str) -> None:
    if isinstance(entries, dict) and "class_name" not in entries:
        raise ValueError(
            f"{_WHO}: {source} was compiled with {key} per output ({sorted(entries)}); only single-output models are supported"
        )
    if isinstance(entries, (list, tuple)) and len(entries) > 1 and any(isinstance(e, (list, tuple)) for e in entries):
        raise ValueError(f"{_WHO}: {source} was compiled with {key} for {len(entries)} outputs; only single-output models are supported")


def _check_single_output_loss(loss: Any, source: str) -> None:
    if isinstance(loss, dict) and "class_name" not in loss:
        raise ValueError(f"{_WHO}: {source} has a loss per output ({sorted(loss)}); only single-output models are supported")
    if isinstance(loss, (list, tuple)) and len(loss) > 1:
        raise ValueError(f"{_WHO}: {source} has {len(loss)} losses, one per output; only single-output models are supported")


def _loss(loss: Any) -> Any:
    """What ``"accuracy"`` is told of the loss: its name (a serialized loss object by its class name)."""
    if isinstance(loss, (list, tuple)):
        loss = loss[0] if loss else None
    if isinstance(loss, dict):
        return loss.get("class_name") if loss.get("class_name") != "function" else loss.get("config")
    return loss if isinstance(loss, str) else None


def _unsupported(what: str, source: str, key: str) -> ValueError:
    ours = ", ".join(sorted({e.name for e in registry.KERAS} | {e.class_name for e in registry.KERAS}))
    return ValueError(
        f"{_WHO}: {source} was compiled with {key}=[... {what} ...], which torch_keras_acc does not provide (it covers "
        f"Keras's accuracy metrics: 'accuracy', {ours}); build that one with torchmetrics and add it to the collection"
    )


def _item(entry: Any, source: str, key: str) -> Any:
    """One serialized compile entry -> an item ``collection`` takes, keyed as Keras keys it."""
    if isinstance(entry, str):
        if entry.lower() in ("accuracy", "acc") or registry.by_name(entry) is not None:
            return entry
        raise _unsupported(repr(entry), source, key)
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise _unsupported(repr(entry), source, key)
    class_name, config = entry["class_name"], entry.get("config")
    if class_name == "function":  # a Keras metric function, serialized by name; compile names it so
        found = next((e for e in registry.KERAS if e.name == config), None)
        if found is None:
            raise _unsupported(f"the function {config!r}", source, key)
        return {"class_name": found.class_name, "config": {"name": found.name}}
    if class_name == "MeanMetricWrapper" and isinstance(config, dict):  # tf_keras: a built "accuracy" and other functions
        fn = config.get("fn")
        fn_name = fn.get("config") if isinstance(fn, dict) else fn
        found = next((e for e in registry.KERAS if e.name == fn_name), None)
        extra = sorted(set(config) - {"name", "dtype", "fn"})
        if found is None or extra:
            raise _unsupported(f"MeanMetricWrapper(fn={fn_name!r}) named {config.get('name')!r}", source, key)
        return {"class_name": found.class_name, "config": {"name": config.get("name", found.name), "dtype": config.get("dtype")}}
    if not any(e.class_name == class_name and e.family == "keras" for e in registry.ENTRIES):
        name = config.get("name") if isinstance(config, dict) else None
        raise _unsupported(f"{class_name}" + (f" named {name!r}" if name else ""), source, key)
    config = dict(config or {})
    if isinstance(config.get("dtype"), dict):  # Keras 3.x may write a DTypePolicy: its name is the dtype
        config["dtype"] = config["dtype"].get("config", {}).get("name")
    return {"class_name": class_name, "config": config}
