"""Exact evaluation under ``DistributedSampler``: weights that undo its padding.

``torch.utils.data.DistributedSampler`` (which Lightning injects for you under
DDP) gives every rank the same number of samples. When ``len(dataset)`` is not
a multiple of ``num_replicas`` it pads the index list with repeats of its first
indices, so a metric synced over all ranks counts those samples twice.

The padding always sits at the *end* of the global list, before the list is
dealt out (rank ``r`` takes global positions ``r, r + R, r + 2R, ...``). So
whatever ``shuffle``, ``seed`` and ``epoch`` are, position ``j`` of rank ``r``
is a duplicate exactly when ``r + j * R >= len(dataset)``: at most the last
position of a rank. [`padding_mask`][torch_keras_acc.distributed.padding_mask] returns these flags for the current
rank, [`unpadded_weights`][torch_keras_acc.distributed.unpadded_weights] the matching 0/1 ``sample_weight``. With them,
the synced result equals one process over the dataset, every sample once.

``drop_last=True`` drops the tail instead (no duplicates, but samples
missing, which no weight can restore; a warning says so): evaluate with
``drop_last=False``. Samplers that never pad (Lightning's
``UnrepeatedDistributedSampler``) get all-real flags from the same rule, and
so does any non-distributed sampler: the same code runs in one process.

Example:
    >>> import torch
    >>> from torch.utils.data import DistributedSampler
    >>> from torch_keras_acc import SparseCategoricalAccuracy
    >>> from torch_keras_acc.distributed import padding_mask, unpadded_weights
    >>> labels = torch.tensor([0, 1, 1, 0, 1])           # 5 samples on 2 ranks
    >>> scores = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    >>> sampler = DistributedSampler(labels, num_replicas=2, rank=1, shuffle=False)
    >>> list(sampler)                                     # sample 0 repeated as padding
    [1, 3, 0]
    >>> padding_mask(sampler)
    tensor([False, False,  True])
    >>> idx = torch.tensor(list(sampler))
    >>> acc = SparseCategoricalAccuracy()                 # on rank 1; rank 0 holds [0, 2, 4]
    >>> acc.update(scores[idx], labels[idx], sample_weight=unpadded_weights(sampler))
    >>> acc.count                                         # the duplicate weighs 0
    tensor(2., dtype=torch.float64)

With a ``DataLoader`` (batches follow the sampler's order), take each batch's
weights with ``unpadded_weights(loader).split(loader.batch_size)[batch_idx]``.
"""

from __future__ import annotations

import warnings
from typing import Union, cast

import torch
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler, Sampler

__all__ = ["padding_mask", "unpadded_weights"]

SamplerSource = Union[Sampler, DataLoader]


def _sampler(source: SamplerSource) -> Sampler:
    """The ``DistributedSampler`` behind ``source`` if there is one, else its plain sampler."""
    if not isinstance(source, DataLoader):
        return source
    # A loader built with batch_sampler= keeps a default .sampler; the one that draws is inside.
    inner = getattr(source.batch_sampler, "sampler", None)
    return inner if isinstance(inner, DistributedSampler) else cast(Sampler, source.sampler)  # typed Sampler | Iterable


def padding_mask(source: SamplerSource) -> Tensor:
    """Bool flags, one per sample this rank draws in order: True for a padded duplicate.

    Args:
        source: the rank's ``DistributedSampler`` (any subclass keeping its
            ``dataset``, ``num_replicas``, ``rank`` and the tail-padding rule,
            e.g. Lightning's ``DistributedSamplerWrapper``), or a ``DataLoader``
            using one. Any other sampler draws each sample once (all False),
            so the same code runs in one process.

    Returns:
        A bool tensor of length ``len(sampler)`` (CPU).
    """
    sampler = _sampler(source)
    if not isinstance(sampler, DistributedSampler):
        return torch.zeros(len(sampler), dtype=torch.bool)  # type: ignore[arg-type]
    n, replicas = len(sampler.dataset), sampler.num_replicas  # type: ignore[arg-type]
    if sampler.drop_last and n % replicas:
        warnings.warn(
            f"DistributedSampler(drop_last=True) leaves out {n % replicas} of {n} samples on every pass; "
            "a metric over the ranks cannot count them. Evaluate with drop_last=False and unpadded_weights().",
            UserWarning,
            stacklevel=3,
        )
    # Position j of this rank is global position rank + j * replicas; the padding is every position >= n.
    positions = sampler.rank + replicas * torch.arange(len(sampler))
    return positions >= n


def unpadded_weights(source: SamplerSource, dtype: torch.dtype = torch.float32) -> Tensor:
    """``sample_weight`` for this rank's samples in order: 1 for a real sample, 0 for padding.

    Pass it (or its slice for the batch) as ``sample_weight`` to any metric of
    this package; see [`padding_mask`][torch_keras_acc.distributed.padding_mask] for ``source``. Move it to the
    metric's device if needed (``update`` moves inputs for you).
    """
    return (~padding_mask(source)).to(dtype)
