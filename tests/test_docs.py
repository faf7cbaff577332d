"""The README and the docs site as a new user reads them (issue 21): user-first, tables that
render, facts that match Keras's fixtures, and API pages with real cross-links."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CLASSES, cases

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = sorted((ROOT / "docs").rglob("*.md"))
SPHINX = re.compile(r":(class|func|meth|mod|data|attr|exc|obj):`|::\s*$|^\s*=+\s+=+\s*$", re.MULTILINE)
INTERNAL: set[str] = set()


def test_readme_is_user_first_and_short():
    lines = README.splitlines()
    assert len(lines) <= 400
    headings = [line for line in lines if line.startswith("## ")]
    assert headings[:2] == ["## Install", "## Quickstart"]
    assert "**Contents:**" in README


def test_readme_gives_a_plain_install_and_pytorchs_cpu_index():
    install = README.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert "pip install .\n" in install
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in install
    assert "torch==2.13.0" not in README  # a pinned version does not pick the CPU build


def test_the_commands_ci_runs_are_the_readmes():
    ci = (ROOT / ".ci" / "run").read_text()
    for command in re.findall(r"^python -m (pip install .*-e \S+|pytest -q)$", ci, re.MULTILINE):
        shown = command.replace("--disable-pip-version-check -q ", "")
        assert shown in README, shown


@pytest.mark.parametrize("page", [ROOT / "README.md", *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_table_renders(page):
    """A table row after a blank line starts a new table: it must be a header with its separator
    (a blank line once split the migration table, and its last rows showed as raw text)."""
    lines = page.read_text().splitlines()
    in_code = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("|"):
            continue
        if i == 0 or not lines[i - 1].startswith("|"):
            assert i + 1 < len(lines) and re.match(r"^\|(\s*:?-+:?\s*\|)+\s*$", lines[i + 1]), f"{page.name}:{i + 1}: {line}"


def test_the_migration_table_is_one_table():
    section = README.split("## Migrating from Keras: line by line", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    block = section[section.index(rows[0]): section.index(rows[-1]) + len(rows[-1])]
    assert "\n\n" not in block and any("history.history" in r for r in rows) and any("model.compile(metrics=[\"accuracy\", " in r for r in rows)


def test_every_guide_page_is_in_the_site_and_linked_from_the_readme():
    yaml = pytest.importorskip("yaml")  # PyYAML: with mkdocs, transformers and lightning
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    flat = str(nav)
    for page in sorted((ROOT / "docs" / "guide").glob("*.md")):
        assert f"guide/{page.name}" in flat and f"(docs/guide/{page.name})" in README, page.name
    assert "(api/paths.md)" in (ROOT / "docs" / "index.md").read_text()  # the kernel paths page, from the index


def test_the_bad_input_page_says_what_keras_does_on_an_empty_class_axis():
    """C = 0: which metrics Keras rejects and which it scores, as the parity fixtures recorded it."""
    rows = [line for line in (ROOT / "docs" / "guide" / "bad-input.md").read_text().splitlines() if "(C = 0)" in line]
    for case in cases():
        if "rejected" not in case.get("tags", []) or "/c0" not in case["id"]:
            continue
        name = CLASSES[case["metric"]].__name__
        raised = isinstance(case["keras3"]["batch"][0], dict)
        mine = [r for r in rows if f"`{name}`" in r]
        if raised:
            assert all("InvalidArgumentError" in r for r in mine), case["id"]
        else:
            assert case["keras3"]["cumulative"][0] == 0.0 and mine and all("0.0" in r and "InvalidArgumentError" not in r for r in mine), case["id"]
    assert not [r for r in rows if "argmax or top-k metric" in r]


def _docstrings(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield getattr(node, "name", path.stem), doc


@pytest.mark.parametrize("module", sorted(p.name for p in (ROOT / "torch_keras_acc").glob("*.py") if p.name not in INTERNAL))
def test_docstrings_use_the_docs_tools_cross_references(module):
    found = [(name, m.group(0)) for name, doc in _docstrings(ROOT / "torch_keras_acc" / module) for m in SPHINX.finditer(doc)]
    assert not found, f"Sphinx markup, shown literally by mkdocstrings: {found}"


def test_the_site_builds_strictly_with_cross_links(tmp_path):
    """mkdocs --strict fails on an unresolved cross-reference; the pages then hold real links."""
    pytest.importorskip("mkdocstrings")
    if shutil.which("mkdocs") is None and subprocess.run([sys.executable, "-m", "mkdocs", "--version"], capture_output=True).returncode:
        pytest.skip("mkdocs is not installed (the docs extra)")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    html = "".join(p.read_text() for p in site.rglob("*.html"))
    assert not re.search(r":(class|func|meth|mod):`", html)
    assert len(re.findall(r'href="[^"]*#torch_keras_acc\.', html)) >= 40  # autorefs links, not literal text
    assert not list(site.rglob("griffe_examples.py"))
