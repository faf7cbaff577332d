"""A user's type checker after the README's install: ``pip install -e .``, then mypy on a
script outside the repository. Every keyword option of every public class is in its
signature, so a misspelled option or a wrong type is a mypy error (issue 21, defects 1 and 2).
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

USER_SCRIPT = """\
import torch_keras_acc as tka

tka.SparseCategoricalAccuracy(on_invalid="warnn")
tka.SparseCategoricalAccuracy(ignore_index="-100")
tka.SparseTopKCategoricalAccuracy(k=3, warn_pitfals=False)
tka.BinaryAccuracy(ignore_index=-100)
tka.KerasAccuracy(sync_on_compute="no")
tka.LegacySparseCategoricalAccuracy(on_invalid="Raise")
tka.TopKCategoricalAccuracy(k=2, dist_sync_on_stp=True)
ok = [
    tka.KerasAccuracy(loss="binary_crossentropy", semantics="legacy", ignore_index=-100, on_invalid="raise"),
    tka.SparseTopKCategoricalAccuracy(k=3, from_sorted_ids=True, warn_pitfalls=False, sync_on_compute=False),
    tka.BinaryAccuracy("acc", None, 0.0, on_invalid="ignore", dist_sync_on_step=True, process_group=None),
    tka.Accuracy(compute_on_cpu=True), tka.CategoricalAccuracy(compute_with_cache=False),
    tka.LegacyBinaryAccuracy(), tka.LegacyCategoricalAccuracy(warn_pitfalls=False),
    tka.LegacySparseCategoricalAccuracy(ignore_index=-100),
]
"""
# (line, the words of mypy's message that name the mistake)
EXPECTED = [
    (3, 'Argument "on_invalid" to "SparseCategoricalAccuracy" has incompatible type "Literal[\'warnn\']"'),
    (4, 'Argument "ignore_index" to "SparseCategoricalAccuracy" has incompatible type "str"'),
    (5, 'Unexpected keyword argument "warn_pitfals" for "SparseTopKCategoricalAccuracy"'),
    (6, 'Unexpected keyword argument "ignore_index" for "BinaryAccuracy"'),
    (7, 'Argument "sync_on_compute" to "KerasAccuracy" has incompatible type "str"'),
    (8, 'Argument "on_invalid" to "LegacySparseCategoricalAccuracy" has incompatible type "Literal[\'Raise\']"'),
    (9, 'Unexpected keyword argument "dist_sync_on_stp" for "TopKCategoricalAccuracy"'),
]


def _build_isolation_flag() -> list[str]:
    """--no-build-isolation when this environment's setuptools can build the project (fast, offline)."""
    try:
        major = int(importlib.metadata.version("setuptools").split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return []
    return ["--no-build-isolation"] if major >= 77 else []


def test_mypy_finds_the_editable_install_and_catches_misspelled_options(tmp_path):
    """The install as a user makes it (a fresh venv seeing this environment's torch), then
    mypy from outside the repository with no MYPYPATH: the package must be found through
    the editable install's path entry, and each bad line reported, and only those."""
    pytest.importorskip("mypy")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps", *_build_isolation_flag(), "-e", str(ROOT)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    pth = list((venv / "lib").glob("python*/site-packages/__editable__.torch_keras_acc-*.pth"))
    assert len(pth) == 1 and pth[0].read_text().strip() == str(ROOT), "expected a plain path entry, not an import hook"
    user = tmp_path / "user"
    user.mkdir()
    (user / "train.py").write_text(USER_SCRIPT)
    (user / "mypy.ini").write_text(textwrap.dedent("""\
        [mypy]
        [mypy-torch.*,torchmetrics.*,numpy.*,lightning_utilities.*]
        follow_imports = skip
        [mypy-torch_keras_acc.*]
        ignore_errors = True
        """))
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--python-executable", str(python), "--config-file", "mypy.ini",
         "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", "train.py"],
        cwd=user, capture_output=True, text=True, timeout=600,
    )
    assert "Cannot find implementation or library stub" not in proc.stdout, proc.stdout
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert [int(e.split(":")[1]) for e in errors] == [line for line, _ in EXPECTED], proc.stdout
    for error, (_, words) in zip(errors, EXPECTED):
        assert words in error, error
