"""A self-contained HTML page: sections of headings, notes, tables and inline SVG figures."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import polars as pl
from matplotlib.figure import Figure

from engine.figures import FigureFunction, FigureUnavailable
from engine.report.inline import svg_of

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
header{background:#243447;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;opacity:.8;font-size:12px}
main{padding:8px 24px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin:16px 0;padding:8px 16px;
overflow-x:auto}
h2{font-size:17px;margin:8px 0}h3{font-size:14px;margin:10px 0 4px}
.figs{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0}figcaption{font-size:12px;color:#555;max-width:460px}
svg.plot{max-width:100%;height:auto;background:#fff}
table{border-collapse:collapse;font-size:12px;margin:6px 0}
th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.text,th.text{text-align:left;max-width:480px}
.kv{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:2px 16px;
font-size:12px;margin:6px 0}.kv span{color:#666}
.kv.summary{font-size:14px;padding-bottom:6px;border-bottom:1px solid #eee}
.note{color:#666;font-size:12px}.warn{color:#a33}
"""


@dataclass
class Section:
    title: str
    parts: list[str] = field(default_factory=list)

    def add(self, html: str) -> Section:
        self.parts.append(html)
        return self

    def note(self, text: str, warn: bool = False) -> Section:
        return self.add(f'<p class="note{" warn" if warn else ""}">{escape(text)}</p>')

    def heading(self, text: str) -> Section:
        return self.add(f"<h3>{escape(text)}</h3>")

    def figures(self, *figs: Figure) -> Section:
        """Figures side by side, inlined as SVG, each captioned with its label."""
        items = []
        for fig in figs:
            caption = fig.get_label()
            cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
            items.append(f'<figure data-name="{escape(fig.get_gid() or "")}">'
                         f"{svg_of(fig)}{cap}</figure>")
        return self.add(f'<div class="figs">{"".join(items)}</div>') if items else self

    def plots(self, tables: Mapping[str, Any], metrics: Mapping[str, Any],
              *functions: FigureFunction) -> Section:
        """The figures that `functions` draw from this run; one whose inputs the run lacks is
        left out."""
        figs = []
        for draw in functions:
            try:
                fig = draw(tables, metrics)
            except FigureUnavailable:
                continue
            fig.set_gid(draw.__name__)
            figs.append(fig)
        return self.figures(*figs)

    def table(self, df: pl.DataFrame, max_rows: int = 30, caption: str = "") -> Section:
        return self.add(table_html(df, max_rows, caption))

    def html(self) -> str:
        return f"<section><h2>{escape(self.title)}</h2>{''.join(self.parts)}</section>"


def fmt(v: float) -> str:
    """A number in at most four significant digits, scientific when very large or small."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5 or a < 1e-3:
        return f"{v:.2g}"
    return f"{v:.4g}"


def cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else fmt(v)
    if isinstance(v, (list, tuple)):
        return escape(", ".join(cell(x) for x in v[:6]) + (" ..." if len(v) > 6 else ""))
    return escape(str(v))


def table_html(df: pl.DataFrame, max_rows: int = 30, caption: str = "") -> str:
    text_cols = {c for c, t in df.schema.items() if t in (pl.String, pl.Categorical)}
    head = "".join(f'<th class="{"text" if c in text_cols else ""}">{escape(c)}</th>'
                   for c in df.columns)
    rows = []
    for row in df.head(max_rows).iter_rows():
        rows.append("<tr>" + "".join(
            f'<td class="{"text" if c in text_cols else ""}">{cell(v)}</td>'
            for c, v in zip(df.columns, row, strict=True)) + "</tr>")
    more = (f'<p class="note">{len(df) - max_rows} more rows not shown.</p>'
            if len(df) > max_rows else "")
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f'<table class="data">{cap}<tr>{head}</tr>{"".join(rows)}</table>{more}'


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    body = "".join(s.html() for s in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>"
            f"<main>{body}</main></body></html>")
