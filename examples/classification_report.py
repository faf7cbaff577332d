"""Why scikit-learn's classification_report or torchmetrics disagree with Keras.

Run:  python examples/classification_report.py

Keras's accuracy is micro-averaged: every sample counts once. scikit-learn's
classification_report prints that same number as "accuracy", next to
"macro avg" recall, which is what torchmetrics' MulticlassAccuracy returns by
default (average="macro"). With imbalanced classes the two differ.
"""

import torch

import torch_keras_acc as tka
from example_data import multiclass

data = multiclass()
y_true, logits = torch.from_numpy(data["y_true"]), torch.from_numpy(data["logits"])

keras_acc = tka.SparseCategoricalAccuracy()
keras_acc.update_state(y_true, logits)
print(f"  Keras accuracy: {keras_acc.result().item():.4f}")

try:
    from sklearn.metrics import classification_report

    print(classification_report(y_true.numpy(), logits.argmax(-1).numpy(), digits=4, zero_division=0))
except ImportError:
    print("  (scikit-learn not installed: pip install scikit-learn for its report)")

from torchmetrics.classification import MulticlassAccuracy  # noqa: E402

macro = MulticlassAccuracy(num_classes=5)(logits, y_true).item()
micro = MulticlassAccuracy(num_classes=5, average="micro")(logits, y_true).item()
print(f"  torchmetrics MulticlassAccuracy() (macro by default): {macro:.4f}")
print(f"  torchmetrics MulticlassAccuracy(average='micro'): {micro:.4f}")
print()
print(tka.explain(y_true, logits, loss="sparse_categorical_crossentropy"))
