"""The per-primitive Triton wrappers: one weight per row, hits or counts, for the path tables' rows,
the tests and the benchmark.

Each is a thin front of a kernel family of ``_triton.py`` (which the fused update uses with
every Keras weight form): it checks the ranks and rows of its arguments, builds the
``Reduction`` (the ``*_count`` forms add into the given 0-d states in the kernel), and
launches once. ``in_top_k`` is the ``triton`` row of the ``in_top_k`` path table.

Example:
    >>> import torch
    >>> from torch_keras_acc import _triton, _triton_wrappers as W
    >>> hits = W.in_top_k(torch.tensor([2, 0]), torch.tensor([[0.1, 0.9, 0.9], [1.0, 2.0, 0.0]]), 1) if _triton.AVAILABLE else None
    >>> hits.tolist() if hits is not None else [True, False]
    [True, False]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from torch_keras_acc._triton import Reduction, _as_kernel_input, _check_rank, _check_rows, _kernels, binary, equal, onehot, sparse, topk

__all__ = [
    "sparse_argmax_hits",
    "sparse_argmax_count",
    "onehot_argmax_hits",
    "onehot_argmax_count",
    "in_top_k",
    "in_top_k_count",
    "binary_hits",
    "binary_count",
    "equal_hits",
    "equal_count",
]


def sparse_argmax_hits(scores2d: Tensor, labels1d: Tensor, keras3_zero_rule: bool = True) -> Tensor:
    """``argmax(scores) == label`` per row, bool (B,); float labels compared exactly (a non-integral one never matches)."""
    name = "triton sparse_argmax_hits"
    _check_rank(name, _as_kernel_input(name, scores2d, "scores2d"), "scores2d", 2)
    _check_rank(name, _as_kernel_input(name, labels1d, "labels1d"), "labels1d", 1)
    _check_rows(name, scores2d.shape[0], labels1d, "labels1d")
    out = sparse(name, scores2d, labels1d, None, keras3_zero_rule, hits=True)
    assert out is not None
    return out


def _count_args(name: str, x: Any, labels: Any, rank_x: int = 2) -> torch.device:
    x = _as_kernel_input(name, x, "scores2d")
    labels = _as_kernel_input(name, labels, "labels1d")
    _check_rank(name, x, "scores2d", rank_x)
    _check_rank(name, labels, "labels1d", 1)
    _check_rows(name, x.shape[0], labels, "labels1d")
    return x.device


def sparse_argmax_count(scores2d: Tensor, labels1d: Tensor, total_out: Tensor, invalid_out: Tensor | None = None, *,
                        count_out: Tensor | None = None, weight: Tensor | None = None,
                        keras3_zero_rule: bool = True) -> None:
    """``sparse_argmax_hits`` reduced in the kernel into the states (see the module docstring)."""
    name = "triton sparse_argmax_count"
    device = _count_args(name, scores2d, labels1d)
    red = Reduction(name, device, scores2d.shape[0], total_out, count_out, invalid_out, weight)
    sparse(name, scores2d, labels1d, red, keras3_zero_rule)


def onehot_argmax_hits(y_true2d: Tensor, y_pred2d: Tensor) -> Tensor:
    """``argmax_last(y_true) == argmax_last(y_pred)`` per row, bool (B,); the two may have different C."""
    name = "triton onehot_argmax_hits"
    for what, x in (("y_true2d", y_true2d), ("y_pred2d", y_pred2d)):
        _check_rank(name, _as_kernel_input(name, x, what), what, 2)
    _check_rows(name, y_pred2d.shape[0], y_true2d, "y_true2d")
    out = onehot(name, y_true2d, y_pred2d, None, hits=True)
    assert out is not None
    return out


def onehot_argmax_count(y_true2d: Tensor, y_pred2d: Tensor, total_out: Tensor, *, count_out: Tensor | None = None,
                        weight: Tensor | None = None) -> None:
    """``onehot_argmax_hits`` reduced in the kernel into the states."""
    name = "triton onehot_argmax_count"
    for what, x in (("y_true2d", y_true2d), ("y_pred2d", y_pred2d)):
        _check_rank(name, _as_kernel_input(name, x, what), what, 2)
    _check_rows(name, y_pred2d.shape[0], y_true2d, "y_true2d")
    onehot(name, y_true2d, y_pred2d, Reduction(name, y_pred2d.device, y_pred2d.shape[0], total_out, count_out, None, weight))


def in_top_k(targets1d: Tensor, scores2d: Tensor, k: int) -> Tensor:
    """``tf.math.in_top_k`` per row, bool (B,). Float targets are first made class indices as
    ``_tf_rules.label_index`` makes them (truncated toward zero; NaN, inf and huge ones invalid)."""
    name = "triton in_top_k"
    if not isinstance(k, int) or isinstance(k, bool):
        raise TypeError(f"{name}: k must be an int, got {k!r}")
    _count_args(name, scores2d, targets1d)
    out = topk(name, targets1d, scores2d, k, None, hits=True)
    assert out is not None
    return out


def in_top_k_count(targets1d: Tensor, scores2d: Tensor, k: int, total_out: Tensor, invalid_out: Tensor | None = None, *,
                   count_out: Tensor | None = None, weight: Tensor | None = None) -> None:
    """``in_top_k`` reduced in the kernel into the states; ``invalid_out`` counts the raw
    labels that are not integers in [0, C) (sparse top-k's invalid-label count)."""
    name = "triton in_top_k_count"
    if not isinstance(k, int) or isinstance(k, bool):
        raise TypeError(f"{name}: k must be an int, got {k!r}")
    device = _count_args(name, scores2d, targets1d)
    topk(name, targets1d, scores2d, k, Reduction(name, device, scores2d.shape[0], total_out, count_out, invalid_out, weight))


def binary_hits(y_true: Tensor, y_pred: Tensor, threshold: float = 0.5) -> Tensor:
    """``y_true == (y_pred > threshold)`` element-wise, bool of the inputs' (common) shape."""
    out = binary("triton binary_hits", y_true, y_pred, threshold, None, hits=True)
    assert out is not None
    return out


def binary_count(y_true: Tensor, y_pred: Tensor, threshold: float, total_out: Tensor, *, count_out: Tensor | None = None,
                 weight: Tensor | None = None) -> None:
    """``binary_hits`` reduced in the kernel: hits over all elements (one per sample for
    (N,) or (N, 1) inputs; for (N, T) inputs Keras averages each sample first)."""
    name = "triton binary_count"
    device = y_pred.device if isinstance(y_pred, Tensor) else torch.device("cpu")
    _kernels(name, device)
    n = y_pred.numel() if isinstance(y_pred, Tensor) else 0
    binary(name, y_true, y_pred, threshold, Reduction(name, device, n, total_out, count_out, None, weight))


def equal_hits(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``y_true == y_pred`` element-wise after Keras's cast of y_true to y_pred's dtype and
    TensorFlow's flush of subnormals, bool of the inputs' (common) shape."""
    out = equal("triton equal_hits", y_true, y_pred, None, hits=True)
    assert out is not None
    return out


def equal_count(y_true: Tensor, y_pred: Tensor, total_out: Tensor, *, count_out: Tensor | None = None,
                weight: Tensor | None = None) -> None:
    """``equal_hits`` reduced in the kernel into the states (hits over all elements)."""
    name = "triton equal_count"
    device = y_pred.device if isinstance(y_pred, Tensor) else torch.device("cpu")
    _kernels(name, device)
    n = y_pred.numel() if isinstance(y_pred, Tensor) else 0
    equal(name, y_true, y_pred, Reduction(name, device, n, total_out, count_out, None, weight))
