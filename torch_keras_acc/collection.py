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

import functools
import inspect
import re
from typing import Any, Iterable, Sequence

import torch
from torchmetrics import Metric, MetricCollection

from torch_keras_acc import registry
from torch_keras_acc._losses import check_loss_name
from torch_keras_acc._mean import KerasMeanMetric
from torch_keras_acc._pitfalls import KerasPitfallWarning
from torch_keras_acc._plot import plot_accuracy
from torch_keras_acc._warn import warn_user
from torch_keras_acc.registry import get
from torch_keras_acc.resolve import KerasAccuracy
from torch_keras_acc.wrapper import MeanMetricWrapper

__all__ = ["KerasMetricCollection", "collection", "from_keras"]

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


def _snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: what ``compile`` names a function (``get_object_name``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _is_plain_function(item: Any) -> bool:
    """A per-sample function that ``compile`` would wrap in ``MeanMetricWrapper`` (not a class,
    not a module or other callable object: those are refused, as before)."""
    return inspect.isfunction(item) or inspect.isbuiltin(item) or isinstance(item, functools.partial)


def _metric(item: Any, loss: Any, sparse_kwargs: dict[str, Any]) -> tuple[str, Metric]:
    """One list item -> (its Keras history name, our metric); ``sparse_kwargs`` go to
    the index-label metrics this function builds (never to instances given)."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        _, metric = _metric(item[1], loss, sparse_kwargs)  # (key, metric): keyed as given
        return item[0], metric
    if isinstance(item, Metric) and not isinstance(item, KerasMeanMetric):
        return type(item).__name__, item  # a torchmetrics metric (MulticlassAUROC, ...), by its class name
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
    if _is_plain_function(item):  # as compile does: MeanMetricWrapper, named after the function
        # Keras's get_object_name: the function's name; a partial has none, so its class's ("partial")
        name = _snake_case(getattr(item, "__name__", None) or type(item).__name__)
        return name, MeanMetricWrapper(item, name=name)
    raise TypeError(
        f"collection: cannot use {item!r} (type {type(item).__name__}) as a metric; expected a name such as 'accuracy' "
        "or 'sparse_top_k_categorical_accuracy', a Keras class name, a Keras config dict, a torch_keras_acc metric "
        "or class, a Keras accuracy metric object or function, a per-sample function fn(y_true, y_pred), "
        "a torchmetrics Metric, or a (key, metric) pair"
    )


def collection(
    metrics: Sequence[Any] | None,
    weighted_metrics: Sequence[Any] | None = None,
    loss: Any = None,
    prefix: str | None = None,
) -> MetricCollection:
    """A Keras ``compile(metrics=[...], weighted_metrics=[...])`` pair of lists as a
    ``MetricCollection`` keyed as Keras's ``history``.

    Args:
        metrics: the list whose entries ignore ``sample_weight``, as Keras's compiled
            ``metrics=`` do: names and aliases (``"accuracy"``/``"acc"`` follow
            ``compile``: [`KerasAccuracy`][torch_keras_acc.resolve.KerasAccuracy]), Keras class names, Keras config
            dicts (an extension: Keras's ``compile`` reads a dict as one per output),
            our metric instances and classes, Keras metric objects, classes
            and functions (converted; Keras need not be installed otherwise),
            plain per-sample torch functions ``fn(y_true, y_pred)`` (wrapped in
            [`MeanMetricWrapper`][torch_keras_acc.wrapper.MeanMetricWrapper] and named after the function, as ``compile``
            does), torchmetrics metrics (``MulticlassAUROC(...)``, keyed by their class
            name) and ``(key, metric)`` pairs (keyed as given). ``None``: none.
        weighted_metrics: the list whose entries use ``sample_weight`` (Keras's
            ``weighted_metrics=``): the same kinds of entries, but torch_keras_acc
            metrics only (torchmetrics metrics take no ``sample_weight``). An entry
            named like an entry of ``metrics`` is keyed ``weighted_<name>``, as in Keras.
        loss: the model's loss, handed to every ``"accuracy"`` (it matters for
            ``semantics="legacy"`` and feeds [`KerasAccuracy`][torch_keras_acc.resolve.KerasAccuracy]'s warning).
            (``collection(metrics, loss, prefix)``, the signature before ``weighted_metrics``,
            still works positionally: a second argument that is not a list is the loss.)
        prefix: prepended to every key, e.g. ``"val_"`` for Keras's validation names.

    Instances in the lists are used as they are (not copied). Ready for
    Lightning's ``self.log_dict(metrics)``; ``update``/``forward`` take
    ``(preds, target, sample_weight=None, mask=None)`` like each metric and give
    ``sample_weight`` to the ``weighted_metrics`` entries only (a warning says so,
    once, when no entry takes it); ``mask`` goes to every entry, as Keras applies a
    masked output's mask to all its metrics.

    Example:
        >>> import torch_keras_acc as tka
        >>> m = tka.collection(["accuracy"], weighted_metrics=["accuracy"])
        >>> sorted(m.keys())
        ['accuracy', 'weighted_accuracy']
        >>> m.update([[0.1, 0.9], [0.8, 0.2]], [1, 1], sample_weight=[3.0, 1.0])
        >>> {k: round(float(v), 4) for k, v in sorted(m.compute().items())}
        {'accuracy': 0.5, 'weighted_accuracy': 0.75}
    """
    if weighted_metrics is not None and not isinstance(weighted_metrics, (list, tuple)):
        if isinstance(weighted_metrics, dict) and "class_name" not in weighted_metrics:
            raise TypeError(
                "collection: weighted_metrics must be a list, as in model.compile(weighted_metrics=[...]); Keras's "
                "per-output dict is not supported: make one collection per output"
            )
        if prefix is not None or not (loss is None or isinstance(loss, str)):
            raise TypeError(f"collection: weighted_metrics must be a list, got {type(weighted_metrics).__name__}")
        # collection(metrics, loss[, prefix]): the signature before weighted_metrics, positionally
        loss, prefix, weighted_metrics = weighted_metrics, loss, None
    return _collection(metrics, loss, prefix, {}, weighted_metrics)


def _checked_list(metrics: Any, argument: str) -> Sequence[Any]:
    if metrics is None:
        return ()
    if isinstance(metrics, (str, dict)) or not isinstance(metrics, Sequence):
        raise TypeError(
            f"collection: expected a list of metrics, as in model.compile({argument}=[...]), got {type(metrics).__name__}; "
            "wrap a single metric in a list. (Keras's per-output dict of lists is not supported: make one collection per output)"
        )
    return metrics


def _collection(
    metrics: Sequence[Any] | None,
    loss: Any,
    prefix: str | None,
    sparse_kwargs: dict[str, Any],
    weighted_metrics: Sequence[Any] | None = None,
) -> MetricCollection:
    check_loss_name(loss, "collection")  # before any metric is built: a typo is an error, as in the CLI
    named: dict[str, Metric] = {}
    for item in _checked_list(metrics, "metrics"):
        key, metric = _metric(item, loss, sparse_kwargs)
        base, i = key, 1
        while key in named:  # Keras: a repeated name gets _1, _2, ...
            key, i = f"{base}_{i}", i + 1
        _add(named, key, metric)
    unweighted = frozenset(named)
    for item in _checked_list(weighted_metrics, "weighted_metrics"):
        key, metric = _metric(item, loss, sparse_kwargs)
        if not isinstance(metric, KerasMeanMetric):
            raise TypeError(
                f"collection: weighted_metrics entry {key!r} ({type(metric).__name__}) takes no sample_weight; "
                "put it in metrics=[...], or wrap a per-sample function with tka.MeanMetricWrapper"
            )
        if key in named:  # Keras's CompileMetrics.result(): weighted_<name>, then weighted_<name>_1, ...
            key = base = f"weighted_{key}"
            i = 1
            while key in named:
                key, i = f"{base}_{i}", i + 1
        _add(named, key, metric)
    if not named:
        raise ValueError("collection: the metric list is empty")
    return KerasMetricCollection(named, prefix=prefix, unweighted=unweighted)


def _add(named: dict[str, Metric], key: str, metric: Metric) -> None:
    if any(m is metric for m in named.values()):
        raise ValueError(f"collection: the metric instance {key!r} appears twice; each entry needs its own instance")
    named[key] = metric


class KerasMetricCollection(MetricCollection):
    """A ``MetricCollection`` that gives ``sample_weight`` only to its weighted entries,
    as Keras's ``compile`` gives it to ``weighted_metrics`` only (built by [`collection()`][torch_keras_acc.collection.collection]).

    ``unweighted``: the keys (without prefix) of the ``metrics=`` entries; they are
    updated without ``sample_weight``. Entries added later (``add_metrics``) take it.
    When both kinds are present, compute groups are off: torchmetrics would merge a
    weighted and an unweighted metric of the same class whose states agree after the
    first batch, and then update both as one.
    """

    def __init__(self, metrics: dict[str, Metric], prefix: str | None = None, unweighted: Iterable[str] = ()) -> None:
        unweighted = frozenset(unweighted)
        mixed = bool(unweighted) and bool(set(metrics) - unweighted)
        super().__init__(metrics, prefix=prefix, compute_groups=not mixed)  # type: ignore[arg-type]  # dict is invariant
        self._unweighted = unweighted
        self._mixed = mixed
        self._warned_unweighted = False

    def _route(self, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any], dict[str, Any]]:
        """``(args, kwargs for weighted entries, kwargs for unweighted ones)``: positional
        ``sample_weight``/``mask`` (our metrics' order) become keywords, so they can be told apart."""
        kwargs = dict(kwargs)
        for position, key in enumerate(("sample_weight", "mask"), start=2):
            if len(args) > position and key not in kwargs:
                kwargs[key] = args[position]
        args = args[:2]
        plain = {k: v for k, v in kwargs.items() if k != "sample_weight"}
        if kwargs.get("sample_weight") is not None and self._unweighted and not self._mixed and not self._warned_unweighted:
            self._warned_unweighted = True
            warn_user(
                f"collection: a sample_weight was given, but every entry ({', '.join(sorted(self._unweighted))}) came from "
                "metrics=[...], which ignore it, as Keras's compiled metrics do; pass them as weighted_metrics=[...] to weight them",
                KerasPitfallWarning,
            )
        return args, kwargs, plain

    def _entries(self) -> list[tuple[str, Metric, bool]]:
        return [(str(key), metric, str(key) in self._unweighted) for key, metric in self.items(keep_base=True, copy_state=False)]  # type: ignore[misc]

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Update every entry; ``sample_weight`` reaches the weighted ones only."""
        args, weighted, plain = self._route(args, kwargs)
        if not self._mixed:  # one kind only: torchmetrics' own update (compute groups and all)
            super().update(*args, **(plain if self._unweighted else weighted))
            return
        for _, metric, is_unweighted in self._entries():
            metric.update(*args, **metric._filter_kwargs(**(plain if is_unweighted else weighted)))

    @torch.jit.unused  # as torchmetrics' own: a model holding the collection still scripts
    def forward(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Each entry's value on this batch (and accumulate); ``sample_weight`` reaches the weighted ones only."""
        args, weighted, plain = self._route(args, kwargs)
        if not self._mixed:
            return super().forward(*args, **(plain if self._unweighted else weighted))
        prefix, postfix = self.prefix or "", self.postfix or ""
        return {
            f"{prefix}{key}{postfix}": metric(*args, **metric._filter_kwargs(**(plain if is_unweighted else weighted)))
            for key, metric, is_unweighted in self._entries()
        }

    def plot(self, val: Any = None, ax: Any = None, together: bool = False) -> Any:
        """torchmetrics' ``MetricCollection.plot``, each metric labelled with its key
        (``"val_accuracy"``), the y-axis on [0, 1] (``together=True`` included)."""
        if together:
            return plot_accuracy(val or self.compute(), ax, "accuracy", ", ".join(str(k) for k in self.keys(keep_base=False)))
        figures: Any = super().plot(val, ax, together=False)  # [(figure, axis)], one per metric
        for (_, axis), (key, metric) in zip(figures, self.items(keep_base=False, copy_state=False)):
            axis.set_ylabel(key)
            axis.set_title(f"{key} ({type(metric).__name__})", fontsize="medium")
        return figures
