"""The report's one renderer: a document is a title, an optional intro and :class:`Section` s of small
blocks (text, heading, table, figure, list, notice, embedded rendering), rendered as Markdown (GitHub
flavour) or as one HTML page with inline CSS. Images are referenced by relative path. Inline Markdown in
text (`code`, **bold**, *emphasis*, [links](target)) becomes tags in the HTML; everything else is escaped,
but for an :class:`Embed`'s fragment (a displaCy rendering), which the HTML shows as it is and the Markdown
links to.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from urllib.parse import quote

import pandas as pd

MISSING_CELL = "—"


@dataclass
class Text:
    """A paragraph; inline Markdown: `code`, **bold**, *emphasis*, [links](target)."""

    text: str


@dataclass
class Heading:
    """A sub-heading inside a section."""

    text: str


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str = ""


@dataclass
class Figure:
    src: str  # relative to the document
    alt: str
    caption: str = ""
    half: bool = False  # two side by side in the HTML


@dataclass
class Items:
    """A bulleted list (inline Markdown in each item)."""

    items: list[str]


@dataclass
class Notice:
    """Something missing, and how to make it."""

    text: str


@dataclass
class Embed:
    """A rendering written by a tool (a displaCy HTML fragment, read by
    :func:`pipeline.report.inputs.displacy_fragments`, which drops any with scripts or event handlers):
    shown as it is in the HTML page; the Markdown links to ``src``, the file it comes from (relative to the
    document), since GitHub strips the styles it depends on."""

    html: str
    src: str
    caption: str = ""


Block = Text | Heading | Table | Figure | Items | Notice | Embed


@dataclass
class Section:
    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    """What the renderers take. ``contents``: a table of contents (and anchors) before the sections."""

    title: str
    sections: list[Section]
    intro: Block | None = None
    contents: bool = False


# ---- Markdown ----------------------------------------------------------------------------------------------


def markdown_table(frame: pd.DataFrame) -> str:
    """A Markdown (GitHub) table of ``frame``'s columns and rows, cells as text ("|" escaped, NaN as "—")."""
    frame = frame.fillna(MISSING_CELL)
    lines = ["| " + " | ".join(_cell_text(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(_cell_text(cell) for cell in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _cell_text(cell: object) -> str:
    return str(cell).replace("|", "\\|").replace("\n", " ")


def render_markdown(document: Document) -> str:
    """The document in Markdown (GitHub flavour), images by relative path."""
    parts = [f"# {document.title}"]
    if document.intro is not None:
        parts.append(block_markdown(document.intro))
    if document.contents:
        parts.append("\n".join(f"{i}. [{s.title}](#{s.anchor})" for i, s in enumerate(document.sections, 1)))
    for section in document.sections:
        heading = f"## {section.title}"
        parts.append(f'<a id="{section.anchor}"></a>\n\n{heading}' if document.contents else heading)
        parts += [block_markdown(block) for block in section.blocks]
    return "\n\n".join(parts) + "\n"


def block_markdown(block: Block) -> str:
    """One block in Markdown."""
    if isinstance(block, Text):
        return block.text
    if isinstance(block, Heading):
        return f"### {block.text}"
    if isinstance(block, Table):
        table = markdown_table(block.frame)
        return f"**{block.caption}**\n\n{table}" if block.caption else table
    if isinstance(block, Figure):
        image = f"![{block.alt}]({quote(block.src)})"
        return f"{image}\n\n*{block.caption}*" if block.caption else image
    if isinstance(block, Items):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Notice):
        return f"> {block.text}"
    if isinstance(block, Embed):
        return f"*{block.caption}*: [{block.src}]({quote(block.src)})" if block.caption else \
            f"[{block.src}]({quote(block.src)})"
    raise TypeError(f"not a report block: {block!r}")


# ---- HTML --------------------------------------------------------------------------------------------------

CSS = """
body { font-family: "Noto Sans CJK JP", "IPAexGothic", "Hiragino Sans", "Yu Gothic", sans-serif;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.55; }
h1 { border-bottom: 2px solid #345; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2.2em; }
nav { background: #f4f6f8; padding: .5em 1.2em; border-radius: 6px; }
nav ol { margin: .3em 0; }
.table-wrap { overflow-x: auto; margin: .8em 0; }
table { border-collapse: collapse; font-size: .9em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d5da; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #eef1f4; }
tr:nth-child(even) td { background: #fafbfc; }
.table-title { font-weight: bold; margin: 1em 0 .2em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e3e3; }
figcaption { font-size: .9em; color: #555; }
figure.half { display: inline-block; width: 48%; margin-right: 1.5%; vertical-align: top; }
code { background: #f1f1f1; padding: 0 .25em; border-radius: 3px; }
.embed-body { border: 1px solid #e3e3e3; padding: .2em .8em; overflow-x: auto; }
.notice { background: #fff6dd; border-left: 4px solid #e0a800; padding: .5em 1em; }
"""


def render_html(document: Document) -> str:
    """One HTML page: the title, the intro, a table of contents (when asked), then the sections."""
    title = html.escape(document.title)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="ja">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{title}</h1>",
    ]
    if document.intro is not None:
        parts.append(block_html(document.intro))
    if document.contents:
        toc = "".join(f'<li><a href="#{s.anchor}">{inline_html(s.title)}</a></li>' for s in document.sections)
        parts.append(f"<nav><strong>目次 / contents</strong><ol>{toc}</ol></nav>")
    for section in document.sections:
        parts.append(f'<section id="{html.escape(section.anchor)}">')
        parts.append(f"<h2>{inline_html(section.title)}</h2>")
        parts += [block_html(block) for block in section.blocks]
        parts.append("</section>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def block_html(block: Block) -> str:
    """One block in HTML."""
    if isinstance(block, Text):
        return f"<p>{inline_html(block.text)}</p>"
    if isinstance(block, Heading):
        return f"<h3>{inline_html(block.text)}</h3>"
    if isinstance(block, Table):
        table = block.frame.to_html(index=False, escape=True, border=0, na_rep=MISSING_CELL)
        title = f'<p class="table-title">{html.escape(block.caption)}</p>' if block.caption else ""
        return f'{title}<div class="table-wrap">{table}</div>'
    if isinstance(block, Figure):
        caption = f"<figcaption>{inline_html(block.caption)}</figcaption>" if block.caption else ""
        src = html.escape(quote(block.src))
        kind = ' class="half"' if block.half else ""
        return f'<figure{kind}><img src="{src}" alt="{html.escape(block.alt)}">{caption}</figure>'
    if isinstance(block, Items):
        return "<ul>" + "".join(f"<li>{inline_html(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Notice):
        return f'<p class="notice">{inline_html(block.text)}</p>'
    if isinstance(block, Embed):
        link = f'<a href="{html.escape(quote(block.src))}">{html.escape(block.src)}</a>'
        caption = f"{inline_html(block.caption)} ({link})" if block.caption else link
        return f'<figure class="embed"><div class="embed-body">{block.html}</div><figcaption>{caption}</figcaption></figure>'
    raise TypeError(f"not a report block: {block!r}")


_INLINE = [
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"\*([^*]+)\*"), r"<em>\1</em>"),
    (re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)"), r'<a href="\2">\1</a>'),
]


def inline_html(text: str) -> str:
    """Escaped text with the inline Markdown of :class:`Text` turned into tags."""
    out = html.escape(text)
    for pattern, tag in _INLINE:
        out = pattern.sub(tag, out)
    return out
