"""A tiny document model rendered twice: as Markdown and as self-contained HTML.

A report is a list of blocks (headings, paragraphs, tables, figures). The
Markdown links each figure relative to the report; the HTML embeds it as a
base64 ``data:`` URI and carries its own stylesheet, so the file can be mailed
or pasted anywhere without its ``figures/`` folder.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    """A table of preformatted cells; ``left`` names the columns aligned left."""

    columns: list[str]
    rows: list[list[str]]
    left: Sequence[str] = ()
    caption: str = ""


@dataclass
class Figure:
    path: Path
    caption: str


@dataclass
class Details:
    """A folded section: ``<details>`` with ``summary`` as its label; the blocks show when
    the reader opens it (GitHub's Markdown renders the same element)."""

    summary: str
    blocks: list[Heading | Paragraph | Bullets | Table] = field(default_factory=list)


@dataclass
class Raw:
    """HTML written into ``report.html`` as it is (an interactive figure); Markdown shows
    ``fallback`` instead, or nothing."""

    html: str
    fallback: Heading | Paragraph | Bullets | Table | Figure | None = None


Block = Heading | Paragraph | Bullets | Table | Figure | Details | Raw


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(document: Document, base: Path) -> str:
    """Render as GitHub-flavoured Markdown; figure links are relative to ``base``."""
    return "\n".join([f"# {document.title}", "", *_md_blocks(document.blocks, base)])


def _md_blocks(blocks: Sequence[Block], base: Path) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Details):
            # a blank line after <summary> lets GitHub render the Markdown inside
            lines += ["<details>", f"<summary>{html.escape(block.summary)}</summary>", ""]
            lines += _md_blocks(block.blocks, base)
            lines += ["</details>", ""]
            continue
        if isinstance(block, Raw):
            if block.fallback is None:
                continue
            block = block.fallback
        if isinstance(block, Heading):
            lines += [f"{'#' * block.level} {block.text}", ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, Bullets):
            lines += [f"- {item}" for item in block.items] + [""]
        elif isinstance(block, Table):
            if block.caption:
                lines += [f"*{block.caption}*", ""]
            lines.append("| " + " | ".join(_md_cell(c) for c in block.columns) + " |")
            lines.append(
                "|" + "|".join(":---" if c in block.left else "---:" for c in block.columns) + "|"
            )
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            lines.append("")
        elif isinstance(block, Figure):
            link = block.path.relative_to(base).as_posix()
            lines += [f"![{block.caption}]({link})", "", f"*{block.caption}*", ""]
    return lines


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
table, pre { display: block; max-width: 100%; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f3f3f3; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-style: italic; padding-bottom: .3em; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-style: italic; color: #555; }
details { margin: .4em 0 1.2em; }
summary { cursor: pointer; color: #444; }
"""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def to_html(document: Document) -> str:
    """Render as one self-contained HTML page: inline style, figures as data: URIs."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(document.title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{esc(document.title)}</h1>",
        *_html_blocks(document.blocks),
    ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_blocks(blocks: Sequence[Block]) -> list[str]:
    esc = html.escape
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Details):
            parts.append(f"<details><summary>{esc(block.summary)}</summary>")
            parts += _html_blocks(block.blocks)
            parts.append("</details>")
        elif isinstance(block, Heading):
            parts.append(f"<h{block.level}>{esc(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{esc(block.text)}</p>")
        elif isinstance(block, Bullets):
            parts.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, Table):
            classes = ["" if c in block.left else ' class="num"' for c in block.columns]
            parts.append("<table>")
            if block.caption:
                parts.append(f"<caption>{esc(block.caption)}</caption>")
            parts.append(
                "<thead><tr>"
                + "".join(
                    f"<th{k}>{esc(c)}</th>" for k, c in zip(classes, block.columns, strict=True)
                )
                + "</tr></thead><tbody>"
            )
            for row in block.rows:
                parts.append(
                    "<tr>"
                    + "".join(f"<td{k}>{esc(c)}</td>" for k, c in zip(classes, row, strict=True))
                    + "</tr>"
                )
            parts.append("</tbody></table>")
        elif isinstance(block, Figure):
            parts.append(
                f'<figure><img src="{_img(block.path)}" alt="{esc(block.caption)}">'
                f"<figcaption>{esc(block.caption)}</figcaption></figure>"
            )
        elif isinstance(block, Raw):
            parts.append(block.html)
    return parts
