"""Keras accuracy under Ray Train: 2 CPU workers (gloo), uneven shards, one synced result.

Run:  python examples/ray_train.py          (needs ``pip install "ray[train]"``; ~30 s)

The pattern to copy:

* inside ``train_loop_per_worker`` Ray Train has set up a ``torch.distributed``
  process group (gloo on CPU workers, NCCL on GPUs); a metric's ``compute()``
  syncs its float64 states over it, as under DDP or Lightning, with nothing to add;
* each worker scores its own shard, of any size: here 3 and 2 batches of
  unequal sizes, 301 and 200 samples. No padding, so every sample counts once;
* ``metrics=`` entries ignore ``sample_weight`` and ``weighted_metrics=``
  entries use it, as in ``model.compile``;
* Ray Train 2.x keeps ``result.metrics`` only when a checkpoint is reported with
  them, so the loop reports a (tiny) checkpoint.

At the end the script scores all 501 samples in this one process: the same numbers.
"""

from __future__ import annotations

import os
import tempfile

import torch

import torch_keras_acc as tka

NUM_CLASSES = 7
# Uneven shards: worker 0 gets 3 batches, worker 1 gets 2, of unequal sizes.
SHARDS = {0: [128, 128, 45], 1: [100, 100]}


def make_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All samples (the same on every worker: one seeded generator): logits, labels, weights."""
    g = torch.Generator().manual_seed(22)
    n = sum(sum(sizes) for sizes in SHARDS.values())
    logits = torch.randn(n, NUM_CLASSES, generator=g)
    labels = torch.randint(0, NUM_CLASSES, (n,), generator=g)
    weights = torch.randint(0, 4, (n,), generator=g).float()
    return logits, labels, weights


def make_metrics() -> torch.nn.Module:
    return tka.collection(["accuracy", "sparse_top_k_categorical_accuracy"], weighted_metrics=["accuracy"])


def shard(rank: int) -> list[slice]:
    """The batches of one worker, as slices of the whole dataset."""
    start = sum(sum(SHARDS[r]) for r in SHARDS if r < rank)
    out = []
    for size in SHARDS[rank]:
        out.append(slice(start, start + size))
        start += size
    return out


def train_loop_per_worker(config: dict) -> None:
    import ray.train

    rank = ray.train.get_context().get_world_rank()
    logits, labels, weights = make_data()
    metrics = make_metrics()
    for batch in shard(rank):
        metrics.update(logits[batch], labels[batch], sample_weight=weights[batch])
    values = {key: float(value) for key, value in metrics.compute().items()}  # synced over both workers
    with tempfile.TemporaryDirectory() as checkpoint_dir:
        with open(os.path.join(checkpoint_dir, "metrics.txt"), "w") as f:
            f.write(repr(values))
        ray.train.report(values, checkpoint=ray.train.Checkpoint.from_directory(checkpoint_dir))


def main() -> dict[str, float]:
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        trainer = TorchTrainer(
            train_loop_per_worker,
            scaling_config=ScalingConfig(num_workers=2, use_gpu=False, resources_per_worker={"CPU": 1}),
            torch_config=TorchConfig(backend="gloo"),
            run_config=RunConfig(storage_path=tempfile.mkdtemp(prefix="tka-ray-"), name="keras_accuracy"),
        )
        result = trainer.fit()
    finally:
        ray.shutdown()
    synced = {key: value for key, value in result.metrics.items() if key in ("accuracy", "weighted_accuracy", "sparse_top_k_categorical_accuracy")}
    print("Ray Train, 2 workers, shards of 301 and 200 samples:")
    for key, value in sorted(synced.items()):
        print(f"  {key}: {value:.4f}")

    logits, labels, weights = make_data()
    single = make_metrics()
    single.update(logits, labels, sample_weight=weights)
    print("One process, all 501 samples:")
    for key, value in sorted(single.compute().items()):
        print(f"  {key}: {float(value):.4f}")
    return synced


if __name__ == "__main__":
    main()
