"""The examples run as the README says, and print Keras's numbers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import cases

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str, *args: str) -> str:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_quickstart_prints_keras_docstring_values():
    out = run_example("quickstart.py")
    doc_part = out.split("Seeded validation epoch")[0]
    printed = dict(re.findall(r"^\s+(\w+): ([0-9.]+)$", doc_part, flags=re.M))
    assert len(printed) == 6
    for metric, value in printed.items():
        want = cases(id=f"{metric}/doc")[0]["keras3"]["cumulative"][0]
        assert abs(float(value) - want) < 5e-5, metric
    assert re.search(r"128/128 - sparse_categorical_accuracy: 0\.\d{4} - ", out)
