"""Threshold, argmax or top-k: how Keras turns scores into classes.

Run:  python examples/binary_vs_categorical.py

Answers three questions with numbers (all checked against real Keras):
why "accuracy" and "binary_accuracy" print the same number; what changes with
two softmax columns; why logits need threshold=0.0; what "accuracy" means on
multi-label outputs; and what a single column does to an argmax metric.
"""

import warnings

import numpy as np
import torch

import torch_keras_acc as tka
from example_data import binary, multilabel

b = binary()
y, probs, logits = (torch.from_numpy(b[k]) for k in ("y_true", "probs", "logits"))


def value(metric, y_true, y_pred):
    metric.update_state(y_true, y_pred)
    return metric.result().item()


print("One sigmoid column (N, 1): 'accuracy' resolves to BinaryAccuracy, so both names agree")
acc = tka.KerasAccuracy()
print(f"  one sigmoid column: accuracy: {value(acc, y, probs):.4f}")
print(f"  one sigmoid column: resolved metric: {acc.variant.__name__}")
print(f"  one sigmoid column: binary_accuracy: {value(tka.BinaryAccuracy(), y, probs):.4f}")

print("Two softmax columns (N, 2) with integer labels: argmax, i.e. sparse categorical accuracy")
two = torch.cat([1 - probs, probs], dim=1)
acc2 = tka.KerasAccuracy()
print(f"  two softmax columns: accuracy: {value(acc2, y[:, 0].long(), two):.4f}")
print(f"  two softmax columns: resolved metric: {acc2.variant.__name__}")

print("Logits: Keras applies no sigmoid; sigmoid(z) > 0.5 is z > 0.0")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", tka.KerasPitfallWarning)  # it would rightly warn here
    print(f"  logits, threshold 0.5: {value(tka.BinaryAccuracy(), y, logits):.4f}")
print(f"  logits, threshold 0.0: {value(tka.BinaryAccuracy(threshold=0.0), y, logits):.4f}")

print("Multi-label (N, 4) with binary crossentropy: 'accuracy' is categorical (argmax), not per label")
m = multilabel()
yl, pl = torch.from_numpy(m["y_true"]), torch.from_numpy(m["probs"])
acc3 = tka.KerasAccuracy(loss="binary_crossentropy")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # the loss/shape disagreement is the point here
    print(f"  multi-label: accuracy: {value(acc3, yl, pl):.4f}")
print(f"  multi-label: resolved metric: {acc3.variant.__name__}")
print(f"  multi-label: binary_accuracy: {value(tka.BinaryAccuracy(), yl, pl):.4f}")

print("A single column into an argmax metric: argmax is always 0")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print(f"  single column into CategoricalAccuracy: {value(tka.CategoricalAccuracy(), y, probs):.4f}")
print(f"  (warned: {caught[0].category.__name__})" if caught else "")
