"""MkDocs hooks for the documentation site (mkdocs.yml's ``hooks``).

The docstrings cite other objects with Sphinx roles (``:func:`lamport.des.sweep```);
mkdocstrings renders them as literal text. This hook turns each into code,
linked to the object's entry in the API reference when the name is a full
dotted path that the reference documents (an optional cross-reference: a name
it does not know stays plain code, never a broken link).
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj|const):<code>([^<]+)</code>")


def _reference(match: re.Match[str]) -> str:
    written = match.group(1).strip()
    name = written.lstrip("~.").removesuffix("()")
    # Sphinx's ~ shows the last part of the name only
    code = f"<code>{name.rsplit('.', 1)[-1] if written.startswith('~') else written}</code>"
    if "." not in name or not name.startswith("lamport"):
        return code
    return f'<autoref identifier="{name}" optional>{code}</autoref>'


def on_page_content(html: str, **kwargs: Any) -> str:
    """Sphinx roles in rendered docstrings as code and cross-references."""
    return _ROLE.sub(_reference, html)
