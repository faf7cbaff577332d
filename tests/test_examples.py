"""The examples run as the README says, and print Keras's numbers.

Each example prints ``label: value`` lines; tests/fixtures/keras_examples.json
holds what real Keras 3 gives for every label on the same arrays.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, cases

ROOT = Path(__file__).resolve().parents[1]
KERAS = json.loads((FIXTURES / "keras_examples.json").read_text())["examples"]


def run_example(name: str, *args: str) -> str:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def printed(out: str) -> dict[str, str]:
    return dict(re.findall(r"^\s+(\S.*?): (\S+)$", out, flags=re.M))


def test_quickstart_prints_keras_docstring_values():
    out = run_example("quickstart.py")
    doc_part = out.split("Seeded validation epoch")[0]
    values = dict(re.findall(r"^\s+(\w+): ([0-9.]+)$", doc_part, flags=re.M))
    assert len(values) == 6
    for metric, value in values.items():
        want = cases(id=f"{metric}/doc")[0]["keras3"]["cumulative"][0]
        assert abs(float(value) - want) < 5e-5, metric
    assert re.search(r"128/128 - sparse_categorical_accuracy: 0\.\d{4} - ", out)


@pytest.mark.parametrize("example", sorted(KERAS))
def test_example_prints_what_keras_gives(example):
    got = printed(run_example(f"{example}.py"))
    for label, want in KERAS[example].items():
        assert label in got, f"{example} does not print {label!r}"
        if isinstance(want, str):
            assert got[label] == want, label
        else:
            assert abs(float(got[label]) - want) < 5e-5, f"{label}: printed {got[label]}, Keras gives {want:.6f}"


def test_classification_report_example_shows_the_macro_gap():
    out = run_example("classification_report.py")
    assert "macro" in out and "Why they differ" in out
