"""Griffe extension for the API reference: read ``Example:`` as an examples section.

The package's Google-style docstrings head their doctests ``Example:``; griffe
takes only the plural ``Examples:`` as code and renders the singular as prose,
turning ``>>>`` into nested quotes. Renaming the heading at load time keeps
the sources as they are.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension

_HEADING = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(Extension):
    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _HEADING.sub(r"\1Examples:", obj.docstring.value)
