"""Lightning DDP: the epoch values Lightning logs for our metric objects are one process over all the data.

A tiny classifier trains for 2 epochs on 2 CPU processes (``ddp_spawn``, gloo),
logging a training metric (``on_step`` and ``on_epoch``) and one metric per
validation dataloader: 16 samples (an even split) and 15 samples (the
``DistributedSampler`` pads one rank with a duplicate, which
:func:`~torch_keras_acc.distributed.unpadded_weights` weighs 0). Every rank
records the predictions it scored; the expected values are one metric in one
process over the union of those predictions, each sample once.

The run happens in a subprocess with a timeout, so a stuck process group
cannot hang the suite (and is run once more only on PyTorch's gloo abort at
exit; see ``tests.conftest.run_ddp_script``).
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("lightning")
import lightning.pytorch as pl  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from tests.conftest import run_ddp_script  # noqa: E402
from torch_keras_acc import SparseCategoricalAccuracy  # noqa: E402
from torch_keras_acc.distributed import unpadded_weights  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIT_TIMEOUT_S = 240  # far above a healthy run (docs/guide/development.md, Run times)
EPOCHS = 2
VAL_SIZES = (16, 15)  # dataloader 0 splits evenly over 2 ranks; dataloader 1 is padded


class Indexed(Dataset):
    """Seeded (index, features, label) triples; the index lets the test find padded duplicates."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=g)
        noise = torch.randint(0, 3, (n,), generator=g)
        self.y = torch.where(torch.rand(n, generator=g) < 0.7, self.x[:, :3].argmax(-1), noise)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        return i, self.x[i], self.y[i]


class TinyClassifier(pl.LightningModule):
    """The documented pattern: metric objects as attributes, one per stage and dataloader, passed to self.log."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(4, 3)
        self.train_acc = SparseCategoricalAccuracy()
        self.val_acc = SparseCategoricalAccuracy()
        self.val_acc_padded = SparseCategoricalAccuracy()
        self.records: dict[str, list] = defaultdict(list)  # what this rank scored, for the test only

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _record(self, key: str, idx: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        if not self.trainer.sanity_checking:
            self.records[f"{key}/{self.current_epoch}"].append((idx.cpu(), logits.detach().cpu(), y.cpu()))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        idx, x, y = batch
        logits = self(x)
        self._record("train", idx, logits, y)
        self.train_acc(logits, y)
        self.log("train_acc", self.train_acc, on_step=True, on_epoch=True)
        return torch.nn.functional.cross_entropy(logits, y)

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        idx, x, y = batch
        logits = self(x)
        self._record(f"val{dataloader_idx}", idx, logits, y)
        if dataloader_idx == 0:
            self.val_acc.update(logits, y)
            self.log("val_acc", self.val_acc, on_epoch=True, add_dataloader_idx=False)
        else:
            loader = self.trainer.val_dataloaders[dataloader_idx]  # carries the DistributedSampler Lightning injected
            weight = unpadded_weights(loader).split(loader.batch_size)[batch_idx]
            self.val_acc_padded.update(logits, y, sample_weight=weight)
            self.log("val_acc_padded", self.val_acc_padded, on_epoch=True, add_dataloader_idx=False)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.5)


class Snapshots(pl.Callback):
    """Saves, per rank, the logged values (after Lightning computed each epoch's) and the records."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.logged: dict[str, float] = {}
        self.local: dict[str, float] = {}  # each rank's own count at epoch end, before Lightning syncs

    def _take_local(self, pl_module: pl.LightningModule, names: tuple[str, ...], epoch: int) -> None:
        for name in names:
            self.local[f"{name}/{epoch}"] = float(getattr(pl_module, name).count)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._take_local(pl_module, ("val_acc", "val_acc_padded"), trainer.current_epoch)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._take_local(pl_module, ("train_acc",), trainer.current_epoch)

    def _take(self, trainer: pl.Trainer, stage: str, epoch: int) -> None:
        for name, value in trainer.callback_metrics.items():
            if name.startswith(stage):
                self.logged[f"{name}/{epoch}"] = float(value)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._take(trainer, "val", trainer.current_epoch)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch:  # the previous epoch's train values are final by now
            self._take(trainer, "train_acc_epoch", trainer.current_epoch - 1)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._take(trainer, "train_acc_epoch", trainer.current_epoch - 1)
        path = Path(self.out_dir) / f"rank{trainer.global_rank}.pt"
        torch.save({"logged": self.logged, "local": self.local, "records": dict(pl_module.records)}, path)


def fit(out_dir: str) -> None:
    """The run under test (called in a subprocess by the test)."""
    pl.seed_everything(0, workers=True)
    torch.set_num_threads(1)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=EPOCHS,
        logger=pl.loggers.CSVLogger(out_dir, name="logs", version=0),
        log_every_n_steps=1,
        callbacks=[Snapshots(out_dir)],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    train = DataLoader(Indexed(32, seed=1), batch_size=4, shuffle=True)
    val = [DataLoader(Indexed(n, seed=2 + i), batch_size=4) for i, n in enumerate(VAL_SIZES)]
    trainer.fit(TinyClassifier(), train, val)


def one_process(records: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, int]:
    """One metric in one process over the recorded samples, each index once; and how many there were."""
    seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for idx, logits, y in records:
        for i, row, label in zip(idx.tolist(), logits, y):
            seen.setdefault(i, (row, label))  # a padded duplicate repeats a sample: same input, same prediction
    metric = SparseCategoricalAccuracy()
    metric.update(torch.stack([v[0] for v in seen.values()]), torch.stack([v[1] for v in seen.values()]))
    return metric.compute(), len(seen)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("lightning")
    proc = run_ddp_script(
        [sys.executable, "-c", f"from tests.test_lightning import fit; fit({str(out)!r})"], FIT_TIMEOUT_S, ROOT, fresh_dir=out
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]
    return out, ranks


def _all_records(ranks: list[dict], key: str) -> list:
    return [rec for rank in ranks for rec in rank["records"].get(key, [])]


@pytest.mark.parametrize("epoch", range(EPOCHS))
@pytest.mark.parametrize(
    "logged, key, n_samples",
    [("val_acc", "val0", VAL_SIZES[0]), ("val_acc_padded", "val1", VAL_SIZES[1]), ("train_acc_epoch", "train", 32)],
)
def test_epoch_value_is_one_process_over_all_data(
    run: tuple[Path, list[dict]], logged: str, key: str, n_samples: int, epoch: int
) -> None:
    _, ranks = run
    records = _all_records(ranks, f"{key}/{epoch}")
    want, seen = one_process(records)
    assert seen == n_samples  # the ranks together scored every sample
    for rank, snapshot in enumerate(ranks):
        got = snapshot["logged"][f"{logged}/{epoch}"]
        assert got == want.item(), f"rank {rank}, epoch {epoch}: logged {logged}={got!r}, one process gives {want.item()!r}"


@pytest.mark.parametrize("epoch", range(EPOCHS))
@pytest.mark.parametrize("name, key, n_samples", [("val_acc", "val0", VAL_SIZES[0]), ("val_acc_padded", "val1", VAL_SIZES[1]), ("train_acc", "train", 32)])
def test_each_rank_counts_only_its_own_samples(run: tuple[Path, list[dict]], name: str, key: str, n_samples: int, epoch: int) -> None:
    """Before the sync, each rank's state holds its own batches only: ddp_spawn hands every rank the
    same pickled states in shared memory, and in-place updates once added into one memory (issue 20)."""
    _, ranks = run
    local = [snapshot["local"][f"{name}/{epoch}"] for snapshot in ranks]
    if name != "val_acc_padded":  # no padding: a rank's count is the number of samples it scored
        assert local == [sum(len(idx) for idx, _, _ in snapshot["records"][f"{key}/{epoch}"]) for snapshot in ranks]
    assert sum(local) == n_samples, f"{name}, epoch {epoch}: the ranks' own counts {local} do not add up to {n_samples}"


def test_padding_is_there_and_weighed_out(run: tuple[Path, list[dict]]) -> None:
    """The padded loader really repeats a sample, so without the weights the value would count it twice."""
    _, ranks = run
    drawn = sum(len(idx) for idx, _, _ in _all_records(ranks, "val1/0"))
    assert drawn == VAL_SIZES[1] + 1


def test_csv_log_holds_epoch_and_step_values(run: tuple[Path, list[dict]]) -> None:
    """Rank 0's logger: each epoch row equals the synced value; each step row is rank 0's own batch."""
    out, ranks = run
    rows = list(csv.DictReader((out / "logs" / "version_0" / "metrics.csv").open()))
    epoch_rows = {(int(r["epoch"]), name): float(r[name]) for r in rows for name in ("val_acc", "val_acc_padded") if r.get(name)}
    for (epoch, name), value in epoch_rows.items():
        assert value == ranks[0]["logged"][f"{name}/{epoch}"]
    assert len(epoch_rows) == 2 * EPOCHS
    steps = [float(r["train_acc_step"]) for r in rows if r.get("train_acc_step")]
    batches = [rec for epoch in range(EPOCHS) for rec in ranks[0]["records"][f"train/{epoch}"]]
    assert len(steps) == len(batches) == EPOCHS * 32 // (2 * 4)
    for step, (value, (_, logits, y)) in enumerate(zip(steps, batches)):
        metric = SparseCategoricalAccuracy()
        metric.update(logits, y)
        assert value == metric.compute().item(), f"step {step}"
