"""Hugging Face ``Trainer``: ``compute_metrics=`` from a Keras metric list.

``transformers`` is not needed to import this module: the callable reads the
``predictions`` and ``label_ids`` of the ``EvalPrediction`` it is given.

Example:
    >>> import numpy as np
    >>> from torch_keras_acc.hf import compute_metrics
    >>> fn = compute_metrics(["accuracy", "sparse_categorical_accuracy"], ignore_index=None)
    >>> logits = np.array([[0.1, 2.0], [1.5, 0.2], [0.3, 0.9], [0.2, 0.1]], dtype=np.float32)
    >>> fn((logits, np.array([1, 1, 0, 0])))  # Trainer(..., compute_metrics=fn) passes an EvalPrediction
    {'accuracy': 0.5, 'sparse_categorical_accuracy': 0.5}

With the default ``ignore_index=-100``, labels of -100 (padding) are left out.
A single-logit binary head, (N, 1) logits, is scored as ``logit > 0``
(``logits=False`` for a head that outputs probabilities: ``p > 0.5``):

    >>> fn = compute_metrics(["accuracy"])
    >>> fn((np.array([[1.2], [-0.4], [0.3]], dtype=np.float32), np.array([1, 1, -100])))
    {'accuracy': 0.5}
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from torchmetrics import MetricCollection

from torch_keras_acc import registry
from torch_keras_acc.collection import _collection
from torch_keras_acc.explain import float32_repr
from torch_keras_acc.metrics import BinaryAccuracy
from torch_keras_acc.resolve import KerasAccuracy

__all__ = ["compute_metrics"]


def _first(x: Any) -> Any:
    """Models return tuples (logits, hidden states, ...) and Trainer passes them on: the first is the logits."""
    while isinstance(x, tuple) and x:
        x = x[0]
    return x


def _binary_item(item: Any, threshold: float) -> Any:
    """A list item as scored on a single-column binary head: the binary metrics this helper
    builds (``"accuracy"``, which Keras 3 resolves to ``BinaryAccuracy`` on (N, 1) outputs,
    and ``"binary_accuracy"``, by name or class) get ``threshold``; anything else, instances,
    config dicts and Keras objects included, is used as given."""
    if isinstance(item, str):
        entry = registry.by_name(item)
        if entry is not None and entry.cls in (BinaryAccuracy, KerasAccuracy):
            return BinaryAccuracy(name=item, threshold=threshold)  # keyed by the string, as Keras keys it
    elif item is BinaryAccuracy:
        return BinaryAccuracy(threshold=threshold)
    elif item is KerasAccuracy:
        return BinaryAccuracy(name="accuracy", threshold=threshold)
    return item


def compute_metrics(
    metrics: Sequence[Any],
    loss: Any = None,
    prefix: str | None = None,
    ignore_index: int | None = -100,
    logits: bool = True,
) -> Callable[[Any], dict[str, float]]:
    """A ``compute_metrics`` callable for ``transformers.Trainer``, built from a Keras metric list.

    Args:
        metrics: as for [`collection()`][torch_keras_acc.collection.collection] (``["accuracy",
            "sparse_top_k_categorical_accuracy"]``, instances, configs, ...).
        loss: handed to every ``"accuracy"``, as in [`collection()`][torch_keras_acc.collection.collection].
        prefix: prepended to every key; ``Trainer`` itself adds ``"eval_"``.
        ignore_index: the label of padding (PyTorch's and Hugging Face's -100),
            given as ``ignore_index=`` to the index-label metrics built here
            (``"accuracy"``, sparse and sparse top-k): those positions are neither
            counted nor reported invalid. Metric *instances* in the list are used
            as they are: construct them with ``ignore_index=-100`` yourself.
            ``None``: every label counts.
        logits: whether the model outputs logits (``Trainer`` hands over what the
            model returns, which for Hugging Face heads is logits). A single-column
            binary head, predictions of shape (N, 1), is then scored as ``logit > 0``
            (``BinaryAccuracy(threshold=0.0)``, the same as ``sigmoid(logit) > 0.5``)
            by the binary metrics built here (``"accuracy"``, ``"binary_accuracy"``);
            ``False`` for a head that outputs probabilities: Keras's ``p > 0.5``.
            On such a head, labels equal to ``ignore_index`` are left out through
            ``mask=`` (binary metrics take no ``ignore_index``).

    The callable takes an ``EvalPrediction`` (or a ``(predictions, label_ids)``
    pair) with (N, C) logits and (N,) label ids (sequence classification), or
    (N, T, C) logits and (N, T) label ids (token classification). For the
    latter, tokens are flattened, so every labelled token counts once, as in
    Hugging Face's token-classification examples (Keras would average within
    each sequence first). Logits are scored as they are: argmax and top-k do
    not care, but a binary metric wants ``BinaryAccuracy(threshold=0.0)``.
    Returns ``{name: float}``, keyed as Keras's ``history``, each the float32 value Keras would print.
    """
    sparse_kwargs = {} if ignore_index is None else {"ignore_index": ignore_index}
    group = _collection(metrics, loss, prefix, sparse_kwargs)
    threshold = 0.0 if logits else 0.5
    binary: list[MetricCollection] = []  # built at the first single-column head (its metrics differ)

    def compute(eval_pred: Any) -> dict[str, float]:
        if hasattr(eval_pred, "predictions"):
            predictions, labels = eval_pred.predictions, eval_pred.label_ids
        else:
            predictions, labels = eval_pred
        predictions, labels = _first(predictions), _first(labels)
        if labels is None:
            raise ValueError("compute_metrics: the EvalPrediction has no label_ids; give the eval dataset a 'labels' column")
        preds = torch.as_tensor(np.asarray(predictions))
        target = torch.as_tensor(np.asarray(labels))
        if preds.ndim == 3 and target.ndim == 2 and preds.shape[:2] == target.shape:
            preds, target = preds.reshape(-1, preds.shape[-1]), target.reshape(-1)  # token classification: each token once
        elif preds.ndim == target.ndim + 1 and preds.shape[:-1] != target.shape:
            raise ValueError(
                f"compute_metrics: logits of shape {tuple(preds.shape)} do not match label_ids of shape "
                f"{tuple(target.shape)}; expected (N, C) logits with (N,) labels or (N, T, C) logits with (N, T) labels"
            )
        scored, mask = group, None
        if preds.ndim >= 2 and preds.shape[-1] == 1 and target.numel() == preds.shape[:-1].numel():
            if not binary:
                binary.append(_collection([_binary_item(m, threshold) for m in metrics], loss, prefix, {}))
            scored = binary[0]
            if ignore_index is not None:
                mask = (target != ignore_index).reshape(preds.shape[:-1])
        scored.reset()
        scored.update(preds, target, mask=mask)
        values = {name: float32_repr(float(value)) for name, value in scored.compute().items()}  # 0.24, not 0.2399999
        scored.reset()
        return values

    return compute
