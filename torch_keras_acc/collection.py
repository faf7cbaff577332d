"""``collection()``: a Keras ``compile(metrics=[...])`` list as a torchmetrics ``MetricCollection``.

Keys are the names Keras gives the metrics in ``history`` (checked against
real Keras by tests/fixtures/gen_collection.py): a string is its own key
(``"acc"``, ``"SparseCategoricalAccuracy"``), an instance its ``name``, a
class or function its default name, and repeats get ``_1``, ``_2``, ...

Example:
    >>> import torch
    >>> import torch_keras_acc as tka
    >>> metrics = tka.collection(["accuracy", tka.SparseTopKCategoricalAccuracy(k=2, name="top2")], prefix="val_")
    >>> list(metrics.keys())
    ['val_accuracy', 'val_top2']
    >>> metrics.update(torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]), torch.tensor([1, 1]))
    >>> {k: round(float(v), 4) for k, v in metrics.compute().items()}
    {'val_accuracy': 0.5, 'val_top2': 1.0}
"""

from __future__ import annotations

from typing import Any, Sequence

from torchmetrics import MetricCollection

from torch_keras_acc import registry
from torch_keras_acc._losses import check_loss_name
from torch_keras_acc._plot import KerasMetricCollection
from torch_keras_acc._mean import KerasMeanMetric
from torch_keras_acc.resolve import KerasAccuracy, get

__all__ = ["collection", "from_keras"]

def _keras_function(name: Any) -> type[KerasMeanMetric] | None:
    """Our class for a Keras metric *function* by ``__name__`` (from the registry). As a list
    item Keras wraps a function as itself, so keras.metrics.accuracy (tf_keras; Keras 3 has
    none) is element-wise equality, not the string "accuracy"."""
    return next((e.cls for e in registry.KERAS if e.name == name), None)


def _takes_ignore_index(cls: type[KerasMeanMetric]) -> bool:
    """Whether a class's labels are class indices (``KerasAccuracy``: when it resolves so)."""
    return cls.spec is None or cls.spec.labels == "class_ids"


def _is_keras(obj: Any) -> bool:
    """A Keras 3 or tf_keras object, told by its module: importing Keras here would pull in TensorFlow."""
    module = getattr(obj, "__module__", None) or type(obj).__module__
    return module.split(".")[0] in ("keras", "tf_keras") or module.startswith("tensorflow.python.keras")


def from_keras(obj: Any, loss: Any = None) -> KerasMeanMetric:
    """Our metric for a real Keras metric object, class or function (Keras 3 or tf_keras).

    Objects are converted through ``get_config()`` and their class name, so
    ``name``, ``k``, ``threshold`` and ``from_sorted_ids`` carry over.
    """
    if isinstance(obj, type):  # a class: Keras instantiates it with its defaults
        obj = obj()
    if callable(getattr(obj, "get_config", None)):
        config = {k: v for k, v in obj.get_config().items() if k in ("name", "dtype", "k", "threshold", "from_sorted_ids")}
        try:
            metric = get({"class_name": type(obj).__name__, "config": config})
        except ValueError:
            raise ValueError(
                f"collection: keras.metrics.{type(obj).__name__} has no torch_keras_acc counterpart; this package covers "
                f"the accuracy metrics ({', '.join(e.class_name for e in registry.KERAS)}); use a torchmetrics metric for it"
            ) from None
        if isinstance(metric, KerasAccuracy) and loss is not None:
            metric.loss = loss
        return metric
    name = getattr(obj, "__name__", None)
    cls = _keras_function(name)
    if cls is not None and name is not None:
        return cls(name=name)
    raise ValueError(f"collection: the Keras object {obj!r} is not an accuracy metric of {[e.name for e in registry.KERAS]}")


def _metric(item: Any, loss: Any, sparse_kwargs: dict[str, Any]) -> tuple[str, KerasMeanMetric]:
    """One list item -> (its Keras history name, our metric); ``sparse_kwargs`` go to
    the index-label metrics this function builds (never to instances given)."""
    if isinstance(item, str):
        # Keras keys a string by the string itself, whatever metric it stands for.
        kwargs = {"loss": loss} if item.lower() in ("accuracy", "acc") else {"name": item}
        try:
            metric = get(item, **kwargs)
            if sparse_kwargs and _takes_ignore_index(type(metric)):
                metric = get(item, **kwargs, **sparse_kwargs)
        except ValueError as err:
            raise ValueError(f"collection: {err}") from None
        return item, metric
    if isinstance(item, KerasMeanMetric):
        return item.name, item
    if isinstance(item, type) and issubclass(item, KerasMeanMetric):
        kwargs = {"loss": loss} if issubclass(item, KerasAccuracy) else {}
        metric = item(**kwargs, **(sparse_kwargs if _takes_ignore_index(item) else {}))
        return metric.name, metric
    if isinstance(item, dict) or _is_keras(item):
        metric = get(item) if isinstance(item, dict) else from_keras(item, loss)
        if sparse_kwargs and _takes_ignore_index(type(metric)):  # rebuilt from its config, plus the extra arguments
            extra = {"loss": metric.loss} if isinstance(metric, KerasAccuracy) else {}
            metric = type(metric).from_config({**metric.get_config(), **extra, **sparse_kwargs})
        return metric.name, metric
    raise TypeError(
        f"collection: cannot use {item!r} (type {type(item).__name__}) as a metric; expected a name such as 'accuracy' "
        "or 'sparse_top_k_categorical_accuracy', a Keras class name, a Keras config dict, a torch_keras_acc metric "
        "or class, or a Keras accuracy metric object or function"
    )


def collection(metrics: Sequence[Any], loss: Any = None, prefix: str | None = None) -> MetricCollection:
    """A Keras ``compile(metrics=[...])`` list as a ``MetricCollection`` keyed as Keras's ``history``.

    Args:
        metrics: the list: names and aliases (``"accuracy"``/``"acc"`` follow
            ``compile``: [`KerasAccuracy`][torch_keras_acc.resolve.KerasAccuracy]), Keras class names, Keras config
            dicts (an extension: Keras's ``compile`` reads a dict as one per output),
            our metric instances and classes, and Keras metric objects, classes
            and functions (converted; Keras need not be installed otherwise).
        loss: the model's loss, handed to every ``"accuracy"`` (it matters for
            ``semantics="legacy"`` and feeds [`KerasAccuracy`][torch_keras_acc.resolve.KerasAccuracy]'s warning).
        prefix: prepended to every key, e.g. ``"val_"`` for Keras's validation names.

    Instances in the list are used as they are (not copied). Ready for
    Lightning's ``self.log_dict(metrics)``; ``update``/``forward`` take
    ``(preds, target, sample_weight=None)`` like each metric.
    """
    return _collection(metrics, loss, prefix, {})


def _collection(metrics: Sequence[Any], loss: Any, prefix: str | None, sparse_kwargs: dict[str, Any]) -> MetricCollection:
    if isinstance(metrics, (str, dict)) or not isinstance(metrics, Sequence):
        raise TypeError(
            f"collection: expected a list of metrics, as in model.compile(metrics=[...]), got {type(metrics).__name__}; "
            "wrap a single metric in a list. (Keras's per-output dict of lists is not supported: make one collection per output)"
        )
    check_loss_name(loss, "collection")  # before any metric is built: a typo is an error, as in the CLI
    named: dict[str, KerasMeanMetric] = {}
    for item in metrics:
        key, metric = _metric(item, loss, sparse_kwargs)
        base, i = key, 1
        while key in named:  # Keras: a repeated name gets _1, _2, ...
            key, i = f"{base}_{i}", i + 1
        if any(m is metric for m in named.values()):
            raise ValueError(f"collection: the metric instance {metric.name!r} appears twice; each entry needs its own instance")
        named[key] = metric
    if not named:
        raise ValueError("collection: the metric list is empty")
    return KerasMetricCollection(named, prefix=prefix)  # type: ignore[arg-type]  # dict is invariant; these are Metrics
