"""The Lightning tests' runner retries PyTorch's gloo abort at exit, and nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import run_ddp_script

# What a ddp_spawn run prints when a worker hits the abort (the CI log of 2026-11-23).
ABORT = (
    "`Trainer.fit` stopped: `max_epochs=2` reached.\n"
    "terminate called without an active exception\n"
    "torch.multiprocessing.spawn.ProcessExitedException: process 1 terminated with signal SIGABRT\n"
)


def script(tmp_path: Path, first_stderr: str, first_code: int) -> list[str]:
    """A command that fails the first time (as given) and succeeds after; it counts its runs."""
    code = (
        "import pathlib, sys\n"
        f"runs = pathlib.Path({str(tmp_path / 'runs')!r})\n"
        "n = int(runs.read_text()) + 1 if runs.exists() else 1\n"
        "runs.write_text(str(n))\n"
        f"if n == 1:\n    sys.stderr.write({first_stderr!r}); sys.exit({first_code})\n"
        "print('ok')\n"
    )
    return [sys.executable, "-c", code]


def runs(tmp_path: Path) -> int:
    return int((tmp_path / "runs").read_text())


def test_gloo_exit_abort_runs_once_more_in_a_fresh_dir(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.pt").write_text("from the aborted run")
    with pytest.warns(UserWarning, match="190489"):
        proc = run_ddp_script(script(tmp_path, ABORT, 1), 60, tmp_path, fresh_dir=out)
    assert proc.returncode == 0 and proc.stdout == "ok\n"
    assert runs(tmp_path) == 2
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    "stderr",
    [
        "AssertionError: rank 1 logged 0.5\n",  # an ordinary failure
        ABORT.replace("`Trainer.fit` stopped: `max_epochs=2` reached.\n", ""),  # aborted before training finished
        ABORT.replace("terminate called without an active exception\n", ""),  # another SIGABRT
    ],
)
def test_other_failures_are_not_retried(tmp_path: Path, stderr: str) -> None:
    proc = run_ddp_script(script(tmp_path, stderr, 1), 60, tmp_path)
    assert proc.returncode == 1 and proc.stderr == stderr
    assert runs(tmp_path) == 1


def test_a_second_abort_fails(tmp_path: Path) -> None:
    always = [sys.executable, "-c", f"import sys; sys.stderr.write({ABORT!r}); sys.exit(1)"]
    with pytest.warns(UserWarning):
        proc = run_ddp_script(always, 60, tmp_path)
    assert proc.returncode == 1 and "SIGABRT" in proc.stderr
