"""Accuracy after predict(): the same number model.evaluate() prints.

Run:  python examples/evaluate_after_predict.py

In Keras, model.evaluate(x, y) with metrics=["accuracy"] resolves "accuracy"
from the shapes (here: integer labels, 5 score columns -> sparse categorical
accuracy) and averages it over every sample. After y_pred = model.predict(x),
feed y_pred to the same metric, all at once or batch by batch: the result is
the same, because the metric weighs samples, not batches.
"""

import torch

import torch_keras_acc as tka
from example_data import multiclass

data = multiclass()
y_true, y_pred = torch.from_numpy(data["y_true"]), torch.from_numpy(data["logits"])  # y_pred = model.predict(x)

# 1. exactly what metrics=["accuracy"] would build and print
acc = tka.KerasAccuracy()
acc.update_state(y_true, y_pred)
print(f"  resolved metric: {acc.variant.__name__}")
print(f"  accuracy after predict: {acc.result().item():.4f}")

# 2. batch by batch, as model.evaluate(batch_size=32) does: the same number
evaluate = tka.KerasAccuracy()
for start in range(0, len(y_true), 32):
    evaluate.update_state(y_true[start : start + 32], y_pred[start : start + 32])
print(f"  model.evaluate accuracy: {evaluate.result().item():.4f}")

# 3. the per-sample values, like keras.metrics.sparse_categorical_accuracy(y_true, y_pred)
per_sample = tka.functional.sparse_categorical_accuracy(y_true, y_pred)
print(f"  per-sample values: {per_sample[:8].tolist()} ... mean {per_sample.mean().item():.4f}")
