"""Keras -> PyTorch, side by side: the Keras line, our line, the same number.

Run:  python examples/keras_to_pytorch.py
"""

import torch

import torch_keras_acc as tka
from example_data import binary, multiclass

b, m = binary(), multiclass()
y_bin, probs, logits_bin = (torch.from_numpy(b[k]) for k in ("y_true", "probs", "logits"))
y, logits = torch.from_numpy(m["y_true"]), torch.from_numpy(m["logits"])
onehot = torch.nn.functional.one_hot(y, 5).float()

ROWS = [
    ("keras.metrics.Accuracy()", "Accuracy", tka.Accuracy(), y, logits.argmax(-1)),
    ("keras.metrics.BinaryAccuracy()", "BinaryAccuracy", tka.BinaryAccuracy(), y_bin, probs),
    ("keras.metrics.BinaryAccuracy(threshold=0.0)", "BinaryAccuracy(threshold=0.0)", tka.BinaryAccuracy(threshold=0.0), y_bin, logits_bin),
    ("keras.metrics.CategoricalAccuracy()", "CategoricalAccuracy", tka.CategoricalAccuracy(), onehot, logits),
    ("keras.metrics.SparseCategoricalAccuracy()", "SparseCategoricalAccuracy", tka.SparseCategoricalAccuracy(), y, logits),
    ("keras.metrics.TopKCategoricalAccuracy(k=2)", "TopKCategoricalAccuracy(k=2)", tka.TopKCategoricalAccuracy(k=2), onehot, logits),
    ("keras.metrics.SparseTopKCategoricalAccuracy(k=2)", "SparseTopKCategoricalAccuracy(k=2)", tka.SparseTopKCategoricalAccuracy(k=2), y, logits),
]
print(f"{'Keras':<50}    torch_keras_acc")
for keras_line, label, metric, y_true, y_pred in ROWS:
    metric.update_state(y_true, y_pred)  # the same call as in Keras
    print(f"{keras_line:<50} -> tka.{label}")
    print(f"  {label}: {metric.result().item():.4f}")
print()
print('model.compile(metrics=["accuracy"])                 ->  tka.KerasAccuracy()  (or tka.get("accuracy"))')
print('model.compile(metrics=["accuracy"]) in Keras <= 2.2 ->  tka.KerasAccuracy(loss=..., semantics="legacy")')
