"""The reference implementations: plain, branch-free PyTorch, the definition of the semantics.

Every faster path (``_cpu_fast.py``, the ``compiled`` and ``triton`` rows of
``_dispatch.py``) must give bit for bit what these give; the tests compare each
path with these functions by their public names. Each applies the rules of
``_tf_rules.py`` and nothing else, on any device, without a host sync.

The eager references work in chunks of rows, ``chunk_elements`` scores at a time,
so their ``rows x C`` temporaries stay bounded whatever N is; the ``*_whole`` forms
run in one block, for torch.compile (inductor fuses them into one reduction).

Example:
    >>> import torch
    >>> from torch_keras_acc._reference import argmax_last_reference, in_top_k_reference
    >>> argmax_last_reference(torch.tensor([[float("nan"), 1.0, 1.0], [-0.0, 0.0, -1.0]]))
    tensor([1, 1])
    >>> in_top_k_reference(torch.tensor([2, 0]), torch.tensor([[0.1, 0.9, 0.9], [1.0, float("inf"), 0.0]]), 1)
    tensor([ True, False])
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from torch_keras_acc._tf_rules import argmax_operand, invalid_labels, target_score, valid_targets

# Scores processed at once by the eager references: bounds their rows x C temporaries
# to a few million elements, whatever N is.
CHUNK_ELEMENTS = 1 << 22


def in_row_chunks(fn: Callable[[Tensor], Tensor], rows: Tensor, chunk_elements: int = CHUNK_ELEMENTS) -> Tensor:
    """``fn(rows)`` for a per-row ``fn`` on (N, C) rows, ``chunk_elements`` scores at a
    time: bounded temporaries, and no host sync (the split uses shapes only)."""
    n, c = rows.shape
    step = max(1, chunk_elements // max(c, 1))
    if n <= step:
        return fn(rows)
    return torch.cat([fn(rows[start : start + step]) for start in range(0, n, step)])


# -- argmax ---------------------------------------------------------------------------
def tf_argmax_reference(x: Tensor) -> Tensor:
    """``tf.math.argmax(x, axis=-1)`` as Keras <= 2.2 called it, as int64 (no ``-0.0`` rule)."""
    return _argmax(argmax_operand(x, zero_rule=False))


def argmax_last_reference(x: Tensor) -> Tensor:
    """``keras.ops.argmax(x, axis=-1)`` on TensorFlow (Keras 3), as int64."""
    return _argmax(argmax_operand(x, zero_rule=True))


def _argmax(x: Tensor) -> Tensor:
    if x.shape[-1] == 0:
        # TensorFlow returns 0 for an empty class axis rather than failing.
        return torch.zeros(x.shape[:-1], dtype=torch.int64, device=x.device)
    return torch.argmax(x, dim=-1)  # the first of tied maxima, like TensorFlow


# -- in_top_k -------------------------------------------------------------------------
def in_top_k_block(p: Tensor, safe: Tensor, k: int) -> Tensor:
    """The definition of ``in_top_k`` on rows whose targets are in range (``safe``)."""
    greater = (p > target_score(p, safe, p.dtype)).sum(dim=1)
    finite = torch.isfinite(p).all(dim=1)
    return finite & (greater < k)


def in_top_k_reference(targets: Tensor, predictions: Tensor, k: int, chunk_elements: int = CHUNK_ELEMENTS) -> Tensor:
    """``tf.math.in_top_k(targets, predictions, k)`` for (B,) int targets and (B, C) scores, in row chunks."""
    b, c = predictions.shape
    valid, safe = valid_targets(targets, c)
    if c == 0 or b == 0:
        return torch.zeros(b, dtype=torch.bool, device=predictions.device)
    rows = max(1, chunk_elements // c)
    out = [in_top_k_block(predictions[start : start + rows], safe[start : start + rows], k) for start in range(0, b, rows)]
    return torch.cat(out) & valid


def in_top_k_whole(targets: Tensor, predictions: Tensor, k: int) -> Tensor:
    """``in_top_k_reference`` in one block, for inductor (which fuses it: no temporary)."""
    valid, safe = valid_targets(targets, predictions.shape[1])
    return in_top_k_block(predictions, safe, k) & valid


# -- invalid labels -------------------------------------------------------------------
def invalid_count_reference(labels: Tensor, num_classes: int, keep: Tensor | None = None) -> Tensor:
    """How many labels ``keep`` marks (None: all) are not integers in ``[0, num_classes)``."""
    bad = invalid_labels(labels, num_classes)
    if keep is not None:
        bad &= keep
    return bad.sum()
