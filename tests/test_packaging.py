"""Packaging: one version, the console script, py.typed, and type checking as a user's mypy sees it."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import torch_keras_acc as tka
from torch_keras_acc.__main__ import main

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_version_is_single_sourced():
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "torch_keras_acc.__version__"}
    assert "version" not in PYPROJECT["project"]
    # the installed metadata (pip install -e .) says the same
    assert importlib.metadata.version("torch_keras_acc") == tka.__version__


def test_license_is_spdx_and_shipped():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0, January 2004" in (ROOT / "LICENSE").read_text()
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert any(req.startswith("setuptools>=77") for req in PYPROJECT["build-system"]["requires"])  # the first with PEP 639


def test_py_typed_is_in_the_package_and_its_data():
    assert (ROOT / "torch_keras_acc" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["torch_keras_acc"]


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"torch_keras_acc {tka.__version__}"
    out = subprocess.run([sys.executable, "-m", "torch_keras_acc", "--version"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == f"torch_keras_acc {tka.__version__}"


def test_console_script():
    assert PYPROJECT["project"]["scripts"] == {"keras-accuracy": "torch_keras_acc.__main__:main"}
    script = shutil.which("keras-accuracy")
    if script is None:
        pytest.skip("keras-accuracy is not installed in this environment (pip install -e . installs it)")
    out = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == f"torch_keras_acc {tka.__version__}"
    usage = subprocess.run([script, "explain"], capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and usage.stderr.startswith("usage: keras-accuracy explain")


USER_SCRIPT = """\
import torch
import torch_keras_acc as tka

top3 = tka.SparseTopKCategoricalAccuracy(k=3)
value: torch.Tensor = top3.compute()
metrics = tka.collection(["accuracy", top3], prefix="val_")
legacy = tka.KerasAccuracy(loss="binary_crossentropy", semantics="legacy")
tka.BinaryAccuracy(threshold="0.5")
tka.KerasAccuracy(semantics="keras_3")
tka.resolve_accuracy([[1]], [[0.3]], semantics="Legacy")
"""


def test_mypy_catches_a_wrong_type_and_a_misspelled_semantics(tmp_path):
    """A user's mypy against the package (source tree, as pip installs it with py.typed).

    torch, torchmetrics and numpy are not followed (16 s instead of minutes on 2 cores):
    the errors checked are in our own signatures. Errors inside the package are not
    reported, as mypy does not report them for an installed package.
    """
    pytest.importorskip("mypy")
    (tmp_path / "user.py").write_text(USER_SCRIPT)
    (tmp_path / "mypy.ini").write_text(textwrap.dedent("""\
        [mypy]
        ignore_missing_imports = True
        [mypy-torch.*,torchmetrics.*,numpy.*,lightning_utilities.*]
        follow_imports = skip
        [mypy-torch_keras_acc.*]
        ignore_errors = True
        """))
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", "user.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert [e.split(":")[1] for e in errors] == ["8", "9", "10"], proc.stdout  # only the three bad lines
    assert 'Argument "threshold" to "BinaryAccuracy" has incompatible type "str"; expected "float"' in errors[0]
    assert "\"Literal['keras_3']\"; expected \"Literal['keras3', 'legacy']\"" in errors[1]
    assert "\"Literal['Legacy']\"" in errors[2]
