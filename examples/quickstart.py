"""Quickstart: every Keras accuracy metric, Keras-style output.

Run:  python examples/quickstart.py

Part 1 feeds each metric the example from its Keras docstring, so the numbers
can be checked against the Keras documentation (and are, by
tests/test_examples.py, against real Keras). Part 2 runs a small seeded
"validation epoch" through the torchmetrics spelling, as in a training loop.
"""

import torch

import torch_keras_acc as tka

# Part 1: Keras's docstring examples, Keras's spelling (update_state(y_true, y_pred)).
DOCS = [
    (tka.Accuracy(), [[1], [2], [3], [4]], [[0], [2], [3], [4]]),
    (tka.BinaryAccuracy(), [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]]),
    (tka.CategoricalAccuracy(), [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]),
    (tka.SparseCategoricalAccuracy(), [[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]]),
    (tka.TopKCategoricalAccuracy(k=1), [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]),
    (tka.SparseTopKCategoricalAccuracy(k=1), [2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]),
]
print("Keras docstring examples")
for metric, y_true, y_pred in DOCS:
    metric.update_state(y_true, y_pred)
    print(f"  {metric.name}: {metric.result().item():.4f}")

# Part 2: a seeded 10-class validation epoch, 4 batches of 32, torchmetrics spelling.
torch.manual_seed(0)
metrics = {
    "sparse_categorical_accuracy": tka.SparseCategoricalAccuracy(),
    "sparse_top_k_categorical_accuracy": tka.SparseTopKCategoricalAccuracy(k=5),
}
binary = tka.BinaryAccuracy(threshold=0.0)  # logits: threshold 0.0, no sigmoid
for _ in range(4):
    target = torch.randint(0, 10, (32,))
    logits = torch.randn(32, 10) + 2.0 * torch.nn.functional.one_hot(target, 10)
    for m in metrics.values():
        m.update(logits, target)  # torchmetrics order: (preds, target)
    binary.update(logits[:, 0], (target == 0).float())
print("Seeded validation epoch (4 x 32 samples)")
line = " - ".join(f"{name}: {m.compute().item():.4f}" for name, m in {**metrics, "binary_accuracy": binary}.items())
print(f"  128/128 - {line}")
