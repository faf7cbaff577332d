"""Keras accuracy in a Lightning DDP run: 2 CPU processes, Keras-style epoch lines.

Run:  python examples/lightning_ddp.py               (2 processes, ddp_spawn, gloo)
      python examples/lightning_ddp.py --devices 1   (one process)

The pattern to copy:

* the metrics are attributes of the LightningModule (so they follow its
  device), one instance per stage (and per validation dataloader);
* a step updates them (``metric(preds, target)`` or ``metric.update(...)``) and
  logs the *object*: ``self.log(name, metric, on_epoch=True)``. Lightning calls
  ``compute()`` (which syncs the float64 states over all processes) and
  ``reset()`` at the end of the epoch; ``sync_dist`` is not needed;
* the validation set (251 samples) does not split evenly over 2 processes, so
  ``DistributedSampler`` repeats one sample; ``unpadded_weights`` gives it
  weight 0, and the validation numbers are those of the 251 samples, once each.

At the end the script scores the trained model on the whole validation set in
this one process: the same numbers as the last epoch's ``val_`` values.
"""

from __future__ import annotations

import argparse

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import torch_keras_acc as tka
from torch_keras_acc.distributed import unpadded_weights

NUM_CLASSES = 10


def make_data(n: int, seed: int) -> TensorDataset:
    """Noisy clusters around 10 fixed centers: learnable, not trivially."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(NUM_CLASSES, 20, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, NUM_CLASSES, (n,), generator=g)
    x = centers[y] + 1.5 * torch.randn(n, 20, generator=g)
    return TensorDataset(x, y)


def keras_metrics() -> nn.ModuleDict:
    """One stage's metrics, under their Keras names."""
    return nn.ModuleDict({m.name: m for m in (tka.SparseCategoricalAccuracy(), tka.SparseTopKCategoricalAccuracy(k=3))})


class Classifier(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, NUM_CLASSES))
        self.train_metrics = keras_metrics()
        self.val_metrics = keras_metrics()  # a separate instance per stage
        self.val_line = ""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        for name, metric in self.train_metrics.items():
            metric(logits, y)  # forward: this batch's value (on_step), accumulated for the epoch
            self.log(name, metric, on_step=True, on_epoch=True)
        return nn.functional.cross_entropy(logits, y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        loader = self.trainer.val_dataloaders  # with the DistributedSampler Lightning put in
        weight = unpadded_weights(loader).split(loader.batch_size)[batch_idx]  # 0 for the padded duplicate
        for name, metric in self.val_metrics.items():
            metric.update(logits, y, sample_weight=weight)
            self.log(f"val_{name}", metric, on_epoch=True)

    # compute() is collective: every rank calls it; only rank 0 prints (self.print).
    # Lightning's own compute() at epoch end then returns the same cached value.
    def on_validation_epoch_end(self) -> None:
        self.val_line = " - ".join(f"val_{name}: {metric.compute().item():.4f}" for name, metric in self.val_metrics.items())

    def on_train_epoch_end(self) -> None:
        steps = self.trainer.num_training_batches
        train = " - ".join(f"{name}: {metric.compute().item():.4f}" for name, metric in self.train_metrics.items())
        self.print(f"Epoch {self.current_epoch + 1}/{self.trainer.max_epochs}\n{steps}/{steps} - {train} - {self.val_line}")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2, help="CPU processes (default 2)")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    pl.seed_everything(0, verbose=False)
    train, val = make_data(1024, seed=1), make_data(251, seed=2)
    model = Classifier()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=args.devices,
        strategy="ddp_spawn" if args.devices > 1 else "auto",
        max_epochs=args.epochs,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(model, DataLoader(train, batch_size=64, shuffle=True), DataLoader(val, batch_size=64))

    # ddp_spawn hands the trained weights back to this process: score all 251 samples here.
    with torch.no_grad():
        logits = model(val.tensors[0])
    check = keras_metrics()
    line = " - ".join(f"val_{name}: {m(logits, val.tensors[1]).item():.4f}" for name, m in check.items())
    print(f"One process, all {len(val)} validation samples: {line}")


if __name__ == "__main__":
    main()
