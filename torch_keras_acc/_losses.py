"""The loss names we accept, written once: a misspelled loss is an error everywhere.

``KerasAccuracy(loss=...)``, ``resolve_accuracy``, ``explain``, ``collection``
(and so ``hf.compute_metrics``) and the command line's ``--loss`` all check a
loss given by name here; a typo would otherwise pass as "some other loss" and
silently change what ``semantics="legacy"`` resolves to. Loss objects and
functions are not checked: any object is a loss to Keras.

Example:
    >>> from torch_keras_acc._losses import check_loss_name
    >>> check_loss_name("categorical_crossentropyy", "accuracy")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: accuracy: loss 'categorical_crossentropyy' is not a Keras or PyTorch loss name; did you mean 'categorical_crossentropy', ...
"""

from __future__ import annotations

import difflib
from typing import Any

__all__ = ["KERAS_LOSSES", "TORCH_LOSSES", "LOSSES", "check_loss_name"]

# Keras 3's `keras.losses` names (tests/test_cli.py checks each against keras.losses.get)
# and PyTorch's losses that resolve.loss_kind knows. Compared case-insensitively.
KERAS_LOSSES = (
    "binary_crossentropy", "bce", "BinaryCrossentropy", "binary_focal_crossentropy", "BinaryFocalCrossentropy",
    "categorical_crossentropy", "CategoricalCrossentropy", "categorical_focal_crossentropy", "CategoricalFocalCrossentropy",
    "sparse_categorical_crossentropy", "SparseCategoricalCrossentropy", "categorical_hinge", "CategoricalHinge",
    "hinge", "Hinge", "squared_hinge", "SquaredHinge", "mean_squared_error", "mse", "MeanSquaredError",
    "mean_absolute_error", "mae", "MeanAbsoluteError", "mean_absolute_percentage_error", "mape",
    "MeanAbsolutePercentageError", "mean_squared_logarithmic_error", "msle", "MeanSquaredLogarithmicError",
    "kl_divergence", "kld", "KLDivergence", "poisson", "Poisson", "huber", "Huber", "log_cosh", "LogCosh",
    "cosine_similarity", "CosineSimilarity", "ctc", "CTC", "dice", "Dice", "tversky", "Tversky", "circle", "Circle",
)
TORCH_LOSSES = (
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss",
)
# lower-case name -> the spelling to suggest
LOSSES = {name.lower(): name for name in KERAS_LOSSES + TORCH_LOSSES}


def check_loss_name(loss: Any, who: str) -> None:
    """Raise ``ValueError`` naming ``who`` (a metric or function) when ``loss`` is a string
    that is no Keras or PyTorch loss name, with the closest valid names; else nothing."""
    if not isinstance(loss, str) or loss.lower() in LOSSES:
        return
    close = difflib.get_close_matches(loss.lower(), list(LOSSES), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(repr(LOSSES[c]) for c in close)}? " if close else ""
    raise ValueError(
        f"{who}: loss {loss!r} is not a Keras or PyTorch loss name; {hint}expected e.g. binary_crossentropy, "
        "categorical_crossentropy, sparse_categorical_crossentropy, mse, or a PyTorch loss such as BCEWithLogitsLoss "
        "or CrossEntropyLoss (or pass the loss object itself)"
    )
