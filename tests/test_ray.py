"""examples/ray_train.py with real Ray Train: 2 CPU workers (gloo) on uneven shards give,
synced, exactly what one process gives on all samples; and weighted_metrics use the
weights while metrics ignore them, as in model.compile."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray.train.torch", reason="Ray Train is not installed (pip install 'ray[train]'); the Ray example is not run")

ROOT = Path(__file__).resolve().parents[1]


def _block(out: str, title: str) -> dict[str, str]:
    part = out.split(title, 1)[1]
    values: dict[str, str] = {}
    for line in part.splitlines()[1:]:
        m = re.match(r"^  (\w+): (\d\.\d{4})$", line)
        if not m:
            break
        values[m.group(1)] = m.group(2)
    return values


def test_ray_train_example_syncs_uneven_shards_exactly() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "RAY_AUTH_MODE": "disabled"}
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "ray_train.py")], capture_output=True, text=True, timeout=400, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    synced = _block(out.stdout, "Ray Train, 2 workers")
    single = _block(out.stdout, "One process, all 501 samples")
    assert set(synced) == {"accuracy", "weighted_accuracy", "sparse_top_k_categorical_accuracy"}, out.stdout
    assert synced == single
    # the weights reach weighted_accuracy only (on these seeded weights the two differ)
    assert synced["accuracy"] != synced["weighted_accuracy"]
