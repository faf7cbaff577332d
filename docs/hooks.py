"""mkdocs hook: the API pages list the metric classes from the registry, not by hand.

A page writes ``{{ registry.keras }}`` (the six Keras 3 classes) or
``{{ registry.legacy }}`` (Keras 2.2's) where a mkdocstrings ``members:`` list goes.
"""

from __future__ import annotations

from typing import Any

from torch_keras_acc import registry


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    for family in ("keras", "legacy"):
        names = ", ".join(e.cls.__name__ for e in registry.ENTRIES if e.family == family)
        markdown = markdown.replace("{{ registry.%s }}" % family, names)
    return markdown
