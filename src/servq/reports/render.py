"""Render a report as self-contained HTML, as PDF (reportlab) or as an Excel workbook (openpyxl).

Owns: how a :class:`~servq.reports.build.Report` looks. Every format is made from the same
neutral tables (:func:`sections`): each cell carries the text people read (HTML and PDF), the
number a spreadsheet stores with its number format, and a tone (``good``/``bad``) for colour.

- HTML: one file, CSS inline in a ``<style>`` element; no scripts, no links, no images, no
  fonts or anything else fetched from anywhere, so it opens offline and in an e-mail.
- PDF: A4 landscape; tables for every section; Chinese in reportlab's built-in CID font
  ``STSong-Light`` (no font file needed: the viewer supplies the glyphs), Latin text in
  Helvetica when the report is in English.
- Excel: a cover sheet, then one sheet per section; header rows bold, numbers stored as
  numbers (durations in hours, percentages as fractions shown with ``%``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.sax.saxutils import escape

from servq.reports.build import Kpi, Mover, Report, SlaRow
from servq.reports.words import (
    format_change,
    format_share,
    format_value,
    sheet_value,
    unit_text,
    word,
)

Format = Literal["html", "pdf", "xlsx"]
FORMATS: tuple[Format, ...] = ("html", "pdf", "xlsx")
MEDIA_TYPES: dict[str, str] = {
    "html": "text/html",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
CJK_FONT = "STSong-Light"
GOOD_COLOUR = "#1a7f37"
BAD_COLOUR = "#c62828"
HEADER_FILL = "#eef1f5"


# --- the neutral tables -------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One table cell: ``text`` to read; ``value`` and ``number_format`` for a spreadsheet
    (``value`` None: the text is stored); ``tone`` ``good``/``bad`` colours it."""

    text: str
    value: float | int | str | None = None
    number_format: str = "General"
    tone: str = ""


@dataclass(frozen=True)
class Block:
    """One table; ``total`` marks the last row as a total."""

    headers: list[str]
    rows: list[list[Cell]]
    title: str = ""
    total: bool = False


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    sheet: str
    blocks: list[Block] = field(default_factory=list)
    note: str = ""  # said instead of (or under) the tables


def _num(value: float | None, unit: str, lang: str) -> Cell:
    stored, fmt = sheet_value(value, unit)
    return Cell(format_value(value, unit, lang), stored, fmt)


def _change_cells(
    change: float | None, change_pct: float | None, unit: str, lang: str
) -> tuple[Cell, Cell]:
    stored, fmt = sheet_value(change, unit)
    if stored is not None and fmt == "0.0%":
        fmt = "+0.0%;-0.0%;0.0%"
    elif stored is not None:
        fmt = f"+{fmt};-{fmt};{fmt}" if fmt != "General" else fmt
    pct = None if change_pct is None else change_pct / 100
    return (
        Cell(format_change(change, None, unit, lang), stored, fmt),
        Cell(
            "–" if pct is None else f"{change_pct:+.1f}%",
            pct,
            "+0.0%;-0.0%;0.0%",
        ),
    )


def _verdict(v: str, lang: str) -> Cell:
    return Cell(word(v, lang), tone=v if v in ("good", "bad") else "")


def _kpi_row(k: Kpi, lang: str) -> list[Cell]:
    change, pct = _change_cells(k.change, k.change_pct, k.unit, lang)
    return [
        Cell(k.name),
        _num(k.value, k.unit, lang),
        _num(k.previous, k.unit, lang),
        change,
        pct,
        _verdict(k.verdict, lang),
        Cell(unit_text(k.unit, lang)),
        Cell(k.metric),
    ]


def _mover_row(m: Mover, lang: str) -> list[Cell]:
    change, pct = _change_cells(m.change, m.change_pct, m.unit, lang)
    return [
        Cell(word(m.dimension, lang)),
        Cell(m.member),
        Cell(m.name),
        _num(m.value, m.unit, lang),
        _num(m.previous, m.unit, lang),
        change,
        pct,
        _verdict(m.verdict, lang),
        Cell(str(m.sample), m.sample, "#,##0"),
    ]


def _sla_row(r: SlaRow) -> list[Cell]:
    return [
        Cell(r.team),
        Cell(f"{r.cases:,}", r.cases, "#,##0"),
        Cell(f"{r.met:,}", r.met, "#,##0"),
        Cell(f"{r.breached:,}", r.breached, "#,##0", "bad" if r.breached else ""),
        Cell(f"{r.open:,}", r.open, "#,##0"),
        Cell(format_share(r.attainment), r.attainment, "0.0%"),
    ]


def sections(report: Report) -> list[Section]:
    """The report's sections as neutral tables, in reading order."""
    lang = report.lang

    def w(key: str) -> str:
        return word(key, lang)

    out: list[Section] = []

    kpi_headers = [
        w("metric"),
        w("value"),
        w("prev_value"),
        w("change"),
        w("change_pct"),
        w("verdict"),
        w("unit"),
        "ID",
    ]
    out.append(
        Section(
            "kpis",
            w("kpis"),
            w("kpis_sheet"),
            [Block(kpi_headers, [_kpi_row(k, lang) for k in report.kpis])],
        )
    )

    mover_headers = [
        w("dimension"),
        w("dim_value"),
        w("metric"),
        w("value"),
        w("prev_value"),
        w("change"),
        w("change_pct"),
        w("verdict"),
        w("sample"),
    ]
    movers = [_mover_row(m, lang) for m in report.movers]
    out.append(
        Section(
            "movers",
            w("movers"),
            w("movers_sheet"),
            [Block(mover_headers, movers)] if movers else [],
            "" if movers else w("movers_none"),
        )
    )

    sla_headers = [w("team"), w("cases_due"), w("met"), w("breached"), w("open"), w("attainment")]
    sla_rows = [_sla_row(r) for r in report.sla]
    out.append(
        Section(
            "sla",
            w("sla"),
            w("sla_sheet"),
            [Block(sla_headers, [*sla_rows, _sla_row(report.sla_total)], total=True)]
            if sla_rows
            else [],
            "" if sla_rows else w("sla_none"),
        )
    )

    out.append(_alert_section(report))

    issue_headers = [w("rank"), w("issue"), w("texts"), w("share"), w("example")]
    issue_rows = [
        [
            Cell(str(i.rank), i.rank, "0"),
            Cell(i.label),
            Cell(f"{i.count:,}", i.count, "#,##0"),
            Cell(format_share(i.share), i.share, "0.0%"),
            Cell(i.example),
        ]
        for i in report.issues
    ]
    out.append(
        Section(
            "issues",
            w("issues"),
            w("issues_sheet"),
            [Block(issue_headers, issue_rows)] if issue_rows else [],
            "" if issue_rows else w("issues_none"),
        )
    )
    return out


def _alert_section(report: Report) -> Section:
    lang = report.lang
    title, sheet = word("alerts", lang), word("alerts_sheet", lang)
    alerts = report.alerts
    if alerts is None:
        return Section("alerts", title, sheet, note=word("alerts_no_store", lang))
    if alerts.total == 0:
        return Section("alerts", title, sheet, note=word("alerts_none", lang))
    count_header = word("count", lang)
    by_severity = Block(
        [word("severity", lang), count_header],
        [
            [
                Cell(word(s, lang), tone="bad" if s == "critical" else ""),
                Cell(str(n), n, "#,##0"),
            ]
            for s, n in alerts.by_severity
        ],
        title=word("alerts_by_severity", lang),
    )
    by_rule = Block(
        [word("rule", lang), count_header],
        [[Cell(r), Cell(str(n), n, "#,##0")] for r, n in alerts.by_rule],
        title=word("alerts_by_rule", lang),
    )
    top = Block(
        [
            word("severity", lang),
            word("rule", lang),
            word("labels", lang),
            word("state", lang),
            word("summary", lang),
            word("since", lang),
            count_header,
        ],
        [
            [
                Cell(word(a.severity, lang), tone="bad" if a.severity == "critical" else ""),
                Cell(a.rule),
                Cell(", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()))),
                Cell(word(a.state, lang)),
                Cell(a.summary),
                Cell(f"{a.starts_at:%Y-%m-%d %H:%M}"),
                Cell(str(a.count), a.count, "#,##0"),
            ]
            for a in alerts.top
        ],
        title=word("alerts_top", lang),
    )
    total = f"{word('total', lang)}: {alerts.total}"
    return Section("alerts", title, sheet, [by_severity, by_rule, top], total)


def header_fields(report: Report) -> list[tuple[str, str]]:
    """The lines under the title: period, comparison, scope, zone, generation time."""
    lang = report.lang
    return [
        (word("period", lang), f"{report.period.label} ({report.period.span_text()})"),
        (word("previous", lang), f"{report.previous.label} ({report.previous.span_text()})"),
        (word("scope", lang), report.scope_text()),
        (word("timezone", lang), report.timezone),
        (word("generated", lang), f"{report.generated_at:%Y-%m-%d %H:%M}"),
    ]


# --- HTML ---------------------------------------------------------------------------------------

_CSS = f"""
body {{ font-family: "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "Helvetica Neue",
  Arial, sans-serif; color: #1f2328; margin: 24px auto; max-width: 1100px; padding: 0 16px;
  line-height: 1.45; }}
h1 {{ font-size: 22px; margin: 0 0 8px; }}
h2 {{ font-size: 17px; margin: 28px 0 8px; border-bottom: 2px solid #d0d7de;
  padding-bottom: 4px; }}
h3 {{ font-size: 14px; margin: 16px 0 6px; color: #57606a; }}
dl.meta {{ display: grid; grid-template-columns: max-content auto; gap: 2px 12px;
  margin: 0 0 8px; font-size: 13px; color: #57606a; }}
dl.meta dt {{ font-weight: 600; }} dl.meta dd {{ margin: 0; }}
table {{ border-collapse: collapse; width: 100%; font-size: 13px; margin: 4px 0 8px; }}
th, td {{ border: 1px solid #d0d7de; padding: 4px 8px; text-align: left;
  vertical-align: top; }}
th {{ background: {HEADER_FILL}; font-weight: 600; }}
td.num {{ text-align: right; white-space: nowrap; }}
tr.total td {{ font-weight: 700; background: #f6f8fa; }}
.good {{ color: {GOOD_COLOUR}; font-weight: 600; }}
.bad {{ color: {BAD_COLOUR}; font-weight: 600; }}
p.note {{ color: #57606a; font-size: 13px; }}
footer {{ margin-top: 32px; font-size: 12px; color: #8c959f; }}
"""

_HTML = """<!DOCTYPE html>
<html lang="{{ html_lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ css }}</style>
</head>
<body>
<h1>{{ title }}</h1>
<dl class="meta">
{%- for label, value in fields %}
<dt>{{ label }}</dt><dd>{{ value }}</dd>
{%- endfor %}
</dl>
{%- for section in sections %}
<section id="{{ section.key }}">
<h2>{{ section.title }}</h2>
{%- for block in section.blocks %}
{%- if block.title %}<h3>{{ block.title }}</h3>{% endif %}
<table>
<thead><tr>{% for h in block.headers %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{%- for row in block.rows %}
<tr{% if block.total and loop.last %} class="total"{% endif %}>
{%- for cell in row %}{% set c = cell_class(cell) %}
<td{% if c %} class="{{ c }}"{% endif %}>{{ cell.text }}</td>
{%- endfor %}
</tr>
{%- endfor %}
</tbody>
</table>
{%- endfor %}
{%- if section.note %}<p class="note">{{ section.note }}</p>{% endif %}
</section>
{%- endfor %}
<footer>servq · {{ generated }}</footer>
</body>
</html>
"""


def _cell_class(cell: Cell) -> str:
    classes = []
    number = isinstance(cell.value, int | float) and not isinstance(cell.value, bool)
    signed = cell.text.startswith(("+", "-", "–")) and len(cell.text) > 1
    if number or signed:
        classes.append("num")
    if cell.tone:
        classes.append(cell.tone)
    return " ".join(classes)


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (inline CSS, nothing fetched)."""
    return document_html(
        report.title,
        report.lang,
        header_fields(report),
        sections(report),
        f"{report.generated_at:%Y-%m-%d %H:%M %Z}",
    )


def document_html(
    title: str, lang: str, fields: list[tuple[str, str]], parts: list[Section], generated: str
) -> str:
    """Any document of titled sections as one self-contained HTML page (the committee pack
    uses it too)."""
    from jinja2 import Environment
    from markupsafe import Markup

    env = Environment(autoescape=True, trim_blocks=False, lstrip_blocks=False)
    template = env.from_string(_HTML)
    return template.render(
        html_lang="zh-CN" if lang == "zh" else "en",
        title=title,
        css=Markup(_CSS),  # our own constant; escaping would break its quotes
        fields=fields,
        sections=parts,
        cell_class=_cell_class,
        generated=generated,
    )


# --- PDF ----------------------------------------------------------------------------------------

_fonts_ready = False


def _register_fonts() -> None:
    global _fonts_ready
    if _fonts_ready:
        return
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    _fonts_ready = True


def _needs_cjk(text: str) -> bool:
    return any(ord(ch) > 0xFF for ch in text)


class _PdfStyles:
    """Paragraph styles; a text with any character beyond Latin-1 is set in STSong-Light."""

    def __init__(self, lang: str) -> None:
        from reportlab.lib import colors
        from reportlab.lib.styles import ParagraphStyle

        self.latin = CJK_FONT if lang == "zh" else "Helvetica"
        self.latin_bold = CJK_FONT if lang == "zh" else "Helvetica-Bold"
        self._cache: dict[tuple[str, int, bool, str, str], Any] = {}
        self._style = ParagraphStyle
        self._colors = colors

    def font(self, text: str, bold: bool = False) -> str:
        if _needs_cjk(text):
            return CJK_FONT
        return self.latin_bold if bold else self.latin

    def style(
        self, text: str, size: int = 8, bold: bool = False, tone: str = "", align: str = "L"
    ) -> Any:
        font = self.font(text, bold)
        key = (font, size, bold, tone, align)
        found = self._cache.get(key)
        if found is None:
            colour = {"good": GOOD_COLOUR, "bad": BAD_COLOUR}.get(tone, "#1f2328")
            found = self._style(
                f"s{len(self._cache)}",
                fontName=font,
                fontSize=size,
                leading=size * 1.3,
                textColor=self._colors.HexColor(colour),
                alignment={"L": 0, "C": 1, "R": 2}[align],
                wordWrap="CJK",
            )
            self._cache[key] = found
        return found

    def para(
        self, text: str, size: int = 8, bold: bool = False, tone: str = "", align: str = "L"
    ) -> Any:
        from reportlab.platypus import Paragraph

        # a CID font has no bold face: bold Chinese text is set in the regular face
        return Paragraph(escape(text), self.style(text, size, bold, tone, align))


def _pdf_table(block: Block, styles: _PdfStyles, width: float) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    header = [styles.para(h, 8, bold=True) for h in block.headers]
    body = []
    for i, row in enumerate(block.rows):
        last = block.total and i == len(block.rows) - 1
        body.append(
            [
                styles.para(
                    c.text,
                    8,
                    bold=last,
                    tone=c.tone,
                    align="R" if "num" in _cell_class(c) else "L",
                )
                for c in row
            ]
        )
    widths = _column_widths(block, width)
    table = Table([header, *body], colWidths=widths, repeatRows=1)
    commands: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#d0d7de")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor(HEADER_FILL)),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if block.total:
        commands.append(("BACKGROUND", (0, len(body)), (-1, len(body)), colors.HexColor("#f6f8fa")))
    table.setStyle(TableStyle(commands))
    return table


def _column_widths(block: Block, width: float) -> list[float]:
    """Widths adding up to ``width``: a short column (ids, numbers, names) gets what its longest
    text needs, so it never wraps mid-word; the long ones share the rest in proportion to their
    longest text (CJK characters count double), within bounds."""

    def size(text: str) -> float:
        return sum(2.0 if ord(ch) > 0x2E80 else 1.0 for ch in text)

    point = 5.0  # about one Latin character at the tables' font size, in points
    pad = 10.0
    longest = [
        max([size(h), *(size(r[j].text) for r in block.rows if j < len(r))])
        for j, h in enumerate(block.headers)
    ]
    needs = [max(n, 4.0) * point + pad for n in longest]
    if sum(needs) <= width:
        return [width * n / sum(needs) for n in needs]
    short = [n <= 18 * point + pad for n in needs]
    fixed = sum(n for n, s in zip(needs, short, strict=True) if s)
    if fixed >= width or all(short):
        return [width * n / sum(needs) for n in needs]
    weights = [min(n, 60 * point) for n, s in zip(needs, short, strict=True) if not s]
    spare = width - fixed
    out, k = [], 0
    for n, s in zip(needs, short, strict=True):
        if s:
            out.append(n)
        else:
            out.append(spare * weights[k] / sum(weights))
            k += 1
    return out


def render_pdf(report: Report) -> bytes:
    """The report as a PDF: A4 landscape, a table per section, Chinese in STSong-Light."""
    return document_pdf(
        report.title, report.lang, header_fields(report), sections(report), report.period.label
    )


def document_pdf(
    title: str, lang: str, fields: list[tuple[str, str]], parts: list[Section], subject: str
) -> bytes:
    """Any document of titled sections as a PDF (A4 landscape, Chinese in STSong-Light)."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate, Spacer

    _register_fonts()
    styles = _PdfStyles(lang)
    buffer = io.BytesIO()
    page = landscape(A4)
    margin = 14 * mm
    doc = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
        title=title,
        author="servq",
        subject=subject,
        lang="zh-CN" if lang == "zh" else "en",
    )
    width = page[0] - 2 * margin
    story: list[Any] = [styles.para(title, 16, bold=True), Spacer(1, 4)]
    for label, value in fields:
        story.append(styles.para(f"{label}: {value}", 9))
    for section in parts:
        story += [Spacer(1, 10), styles.para(section.title, 12, bold=True), Spacer(1, 4)]
        for block in section.blocks:
            if block.title:
                story += [styles.para(block.title, 10, bold=True), Spacer(1, 2)]
            story += [_pdf_table(block, styles, width), Spacer(1, 6)]
        if section.note:
            story.append(styles.para(section.note, 9))

    footer = f"{title} · servq"

    def on_page(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(CJK_FONT if _needs_cjk(footer) else "Helvetica", 7)
        canvas.drawString(margin, 8 * mm, footer)
        canvas.drawRightString(page[0] - margin, 8 * mm, str(document.page))
        canvas.restoreState()

    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


# --- Excel --------------------------------------------------------------------------------------

_SHEET_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


def _sheet_title(text: str, used: set[str]) -> str:
    base = text.translate(_SHEET_FORBIDDEN)[:31] or "Sheet"
    title, n = base, 2
    while title in used:
        suffix = f" ({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(title)
    return title


def render_xlsx(report: Report) -> bytes:
    """The report as an Excel workbook: a cover sheet, then one sheet per section."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor=HEADER_FILL.lstrip("#").upper())
    tones = {
        "good": Font(color=GOOD_COLOUR.lstrip("#").upper()),
        "bad": Font(color=BAD_COLOUR.lstrip("#").upper()),
    }
    wb = Workbook()
    used: set[str] = set()
    cover = wb.active
    cover.title = _sheet_title(word("report", report.lang), used)
    cover.append([report.title])
    cover["A1"].font = Font(bold=True, size=14)
    for label, text in header_fields(report):
        cover.append([label, text])
        cover.cell(row=cover.max_row, column=1).font = bold
    cover.column_dimensions["A"].width = 18
    cover.column_dimensions["B"].width = 60

    for section in sections(report):
        ws = wb.create_sheet(_sheet_title(section.sheet, used))
        widths: dict[int, float] = {}
        row_no = 0
        for block in section.blocks:
            if block.title:
                row_no += 1
                ws.cell(row=row_no, column=1, value=block.title).font = Font(bold=True, size=12)
            row_no += 1
            for j, h in enumerate(block.headers, 1):
                c = ws.cell(row=row_no, column=j, value=h)
                c.font, c.fill = bold, fill
                widths[j] = max(widths.get(j, 0), len(h) * 2)
            for i, row in enumerate(block.rows):
                row_no += 1
                last = block.total and i == len(block.rows) - 1
                for j, cell in enumerate(row, 1):
                    value: Any = cell.text if cell.value is None else cell.value
                    if value == "–":
                        value = None  # no data: an empty cell
                    c = ws.cell(row=row_no, column=j, value=value)
                    if cell.value is not None:
                        c.number_format = cell.number_format
                    if last:
                        c.font = bold
                    elif cell.tone in tones:
                        c.font = tones[cell.tone]
                    if isinstance(value, str) and len(value) > 40:
                        c.alignment = Alignment(wrap_text=True, vertical="top")
                    widths[j] = max(widths.get(j, 0), min(len(cell.text) * 1.6, 60))
            row_no += 1  # a blank row between tables
        if section.note:
            row_no += 1
            ws.cell(row=row_no, column=1, value=section.note)
        for j, w in widths.items():
            ws.column_dimensions[get_column_letter(j)].width = max(w, 8)
        if section.blocks and not section.blocks[0].title:
            ws.freeze_panes = "A2"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def render(report: Report, fmt: str) -> bytes:
    """The report in ``fmt`` (``html``, ``pdf`` or ``xlsx``) as bytes (HTML in UTF-8)."""
    if fmt == "html":
        return render_html(report).encode("utf-8")
    if fmt == "pdf":
        return render_pdf(report)
    if fmt == "xlsx":
        return render_xlsx(report)
    from servq.errors import ServqError

    raise ServqError(
        f"unknown report format '{fmt}': use html, pdf or xlsx / 未知的报告格式 '{fmt}'：请用 "
        "html、pdf 或 xlsx"
    )
