"""A custom training loop with Keras-style epoch accuracies.

Run:  python examples/custom_training_loop.py

The Keras habit: metrics accumulate over the epoch and are reset at its end
(Keras does it in fit(); in a custom loop you call reset_state()). Forget the
reset and epoch 2 reports the mean of epochs 1 and 2. The "model" here replays
seeded logits that improve each epoch (examples/example_data.py), so the
printed numbers can be checked against real Keras.
"""

import torch

import torch_keras_acc as tka
from example_data import epochs

acc = tka.SparseCategoricalAccuracy()
top2 = tka.SparseTopKCategoricalAccuracy(k=2)
for epoch, batches in enumerate(epochs(), start=1):
    for step, (labels, logits) in enumerate(batches, start=1):
        logits, labels = torch.from_numpy(logits), torch.from_numpy(labels)
        # ... loss.backward(); optimizer.step() would go here ...
        batch_acc = acc(logits, labels)  # forward: this batch's value, and accumulate
        top2.update(logits, labels)
    # Keras prints the running mean over the epoch, not the last batch's value.
    print(f"Epoch {epoch}: last batch {batch_acc.item():.4f}")
    print(f"  epoch {epoch} sparse_categorical_accuracy: {acc.compute().item():.4f}")
    print(f"  epoch {epoch} sparse_top_k_categorical_accuracy: {top2.compute().item():.4f}")
    acc.reset()  # reset_state() in Keras spelling
    top2.reset()
