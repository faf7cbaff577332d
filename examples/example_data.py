"""Small seeded datasets shared by the examples and the fixture generator.

NumPy only, so that tests/fixtures/generate.py can feed the very same arrays
to real Keras and record what Keras prints for each example.
"""

from __future__ import annotations

import numpy as np


def binary(n: int = 64, seed: int = 7) -> dict[str, np.ndarray]:
    """Binary labels (N, 1) with sigmoid probabilities (some exactly 0.5) and their logits."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, size=(n, 1)).astype(np.float32)
    logits = (rng.normal(size=(n, 1)) + 1.2 * (2 * y_true - 1)).astype(np.float32)
    logits[::9] = 0.0  # probability exactly 0.5: class 0 for Keras (strictly greater)
    probs = (1 / (1 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
    return {"y_true": y_true, "probs": probs, "logits": logits}


def multiclass(n: int = 96, c: int = 5, seed: int = 11) -> dict[str, np.ndarray]:
    """Imbalanced integer labels (N,) and logits (N, C): macro and micro averages differ."""
    rng = np.random.default_rng(seed)
    y_true = rng.choice(c, size=n, p=[0.5, 0.2, 0.15, 0.1, 0.05][:c] if c == 5 else None)
    logits = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[y_true] + 0.8 * np.eye(c)[0]  # a bias toward class 0
    return {"y_true": y_true.astype(np.int64), "logits": logits.astype(np.float32)}


def multilabel(n: int = 48, labels: int = 4, seed: int = 13) -> dict[str, np.ndarray]:
    """Multi-label indicators (N, L) and sigmoid probabilities."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, size=(n, labels)).astype(np.float32)
    probs = np.clip(0.35 * y_true + 0.65 * rng.random((n, labels)), 0, 1).astype(np.float32)
    return {"y_true": y_true, "probs": probs}


def epochs(n_epochs: int = 3, batches: int = 4, batch_size: int = 16, c: int = 5, seed: int = 17) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Per epoch, the (labels, logits) batches a model would produce as it learns."""
    rng = np.random.default_rng(seed)
    out = []
    for epoch in range(n_epochs):
        signal = 0.5 + 1.2 * epoch
        epoch_batches = []
        for _ in range(batches):
            y = rng.integers(0, c, size=batch_size)
            logits = rng.normal(size=(batch_size, c)) + signal * np.eye(c)[y]
            epoch_batches.append((y.astype(np.int64), logits.astype(np.float32)))
        out.append(epoch_batches)
    return out
