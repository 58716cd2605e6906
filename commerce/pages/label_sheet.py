"""Shelf label sheets as SVG or PDF, without I/O.

One layout for both: US Letter sheets of 4 x 2 inch labels, two across and five down (the common
"shipping label" sheet, e.g. Avery 5163), each with the title, the price (the regular price struck
through when a promotion applies), the SKU and a QR code. QR codes are made by segno; the PDF is
written by ReportLab, with each code drawn as vector rectangles so it prints sharp at any size.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from html import escape

import segno
from reportlab.lib.pagesizes import LETTER
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

PT_PER_INCH = 72.0
PAGE_W, PAGE_H = LETTER  # 612 x 792 pt
LABEL_W, LABEL_H = 4 * PT_PER_INCH, 2 * PT_PER_INCH
COLUMNS, ROWS = 2, 5
LEFT, TOP = 0.156 * PT_PER_INCH, 0.5 * PT_PER_INCH
COLUMN_GAP = 0.188 * PT_PER_INCH
PER_PAGE = COLUMNS * ROWS
PAD = 10.0
QR_SIZE = LABEL_H - 2 * PAD  # the code's square, quiet zone included
QR_BORDER = 4  # modules of quiet zone, as the QR standard asks
QR_MASK = 2
_DARK_RUN = re.compile(rb"[^\x00]+")  # a run of dark modules in a row of segno's matrix
TEXT_W = LABEL_W - QR_SIZE - 3 * PAD
TITLE_FONT, TITLE_SIZE, TITLE_LINES = "Helvetica-Bold", 12.0, 3
PRICE_FONT, PRICE_SIZE = "Helvetica-Bold", 24.0
SMALL_FONT, SMALL_SIZE = "Helvetica", 9.0


@dataclass(frozen=True, slots=True)
class Label:
    title: str
    price: str  # what the shopper pays, e.g. "$15.99"
    regular: str | None  # the catalog price when a promotion lowers it
    sku: str
    qr_url: str


def wrap(text: str, width: float, font: str, size: float, lines: int) -> list[str]:
    """Words on at most `lines` lines of `width` points (by the font's metrics); an ellipsis where cut."""
    out: list[str] = []
    for word in text.split():
        if out and stringWidth(f"{out[-1]} {word}", font, size) <= width:
            out[-1] = f"{out[-1]} {word}"
        else:
            out.append(word)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = _fit(out[-1] + " …", width, font, size, cut=True)
    return [_fit(line, width, font, size) for line in out]


def _fit(line: str, width: float, font: str, size: float, *, cut: bool = False) -> str:
    """The line, cut with an ellipsis if it is wider than `width` (`cut`: it already ends with one)."""
    if stringWidth(line, font, size) <= width:
        return line
    line = line.removesuffix(" …") if cut else line
    while line and stringWidth(line + "…", font, size) > width:
        line = line[:-1]
    return line.rstrip() + "…"


def positions(count: int) -> Iterator[tuple[int, float, float]]:
    """(page, x, y from the page's top) of each label in reading order."""
    for i in range(count):
        page, slot = divmod(i, PER_PAGE)
        row, column = divmod(slot, COLUMNS)
        yield page, LEFT + column * (LABEL_W + COLUMN_GAP), TOP + row * LABEL_H


def qr_rectangles(url: str) -> tuple[int, list[tuple[int, int, int, int]]]:
    """The QR code of `url` as (its size in modules, quiet zone included; its dark modules as rectangles
    (row, column, width, height)): runs along each row, merged with the same run in the rows below.

    The mask is fixed (pattern 2) rather than scored: scoring all eight masks is nine tenths of segno's time
    (about 10 ms a code, a second for a sheet of 100), and every mask is valid for every decoder; the
    tests decode each code back with zxing-cpp.
    """
    code = segno.make_qr(url, error="m", mask=QR_MASK)
    size = int(code.symbol_size(border=QR_BORDER)[0])
    open_runs: dict[tuple[int, int], list[int]] = {}  # (column, width) -> [first row, height]
    rectangles = []
    for r, row in enumerate(code.matrix):
        runs = {(m.start(), m.end() - m.start()) for m in _DARK_RUN.finditer(bytes(row))}
        for key in list(open_runs):
            if key not in runs:
                first, height = open_runs.pop(key)
                rectangles.append((first + QR_BORDER, key[0] + QR_BORDER, key[1], height))
        for key in runs:
            if key in open_runs:
                open_runs[key][1] += 1
            else:
                open_runs[key] = [r, 1]
    for (column, width), (first, height) in open_runs.items():
        rectangles.append((first + QR_BORDER, column + QR_BORDER, width, height))
    return size, sorted(rectangles)


# --- SVG ---


def svg_sheet(labels: Sequence[Label]) -> bytes:
    """All labels on one tall SVG document, pages stacked (a page is 8.5 x 11 in)."""
    pages = max(1, -(-len(labels) // PER_PAGE))
    height = pages * PAGE_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{PAGE_W / PT_PER_INCH}in" height="{pages * 11}in" '
        f'viewBox="0 0 {PAGE_W:g} {height:g}" font-family="Helvetica, Arial, sans-serif" role="img" '
        f'aria-label="{len(labels)} shelf labels">',
        f'<rect width="{PAGE_W:g}" height="{height:g}" fill="#fff"/>',
    ]
    for label, (page, x, y) in zip(labels, positions(len(labels)), strict=True):
        parts.append(_svg_label(label, x, page * PAGE_H + y))
    parts.append("</svg>")
    return "".join(parts).encode()


def _svg_label(label: Label, x: float, y: float) -> str:
    out = [
        f'<g transform="translate({x:.2f} {y:.2f})">',
        f'<rect x="0.5" y="0.5" width="{LABEL_W - 1:g}" height="{LABEL_H - 1:g}" rx="6" fill="none" stroke="#bbb"/>',
    ]
    ty = PAD + TITLE_SIZE
    for line in wrap(label.title, TEXT_W, TITLE_FONT, TITLE_SIZE, TITLE_LINES):
        out.append(f'<text x="{PAD:g}" y="{ty:g}" font-size="{TITLE_SIZE:g}" font-weight="bold">{escape(line)}</text>')
        ty += TITLE_SIZE * 1.2
    price_y = LABEL_H - PAD - SMALL_SIZE * 1.6 - 4
    if label.regular:
        out.append(
            f'<text x="{PAD:g}" y="{price_y - PRICE_SIZE - 2:g}" font-size="{SMALL_SIZE + 1:g}" fill="#555" '
            f'text-decoration="line-through">{escape(label.regular)}</text>'
        )
    out.append(
        f'<text x="{PAD:g}" y="{price_y:g}" font-size="{PRICE_SIZE:g}" font-weight="bold">{escape(label.price)}</text>'
    )
    out.append(
        f'<text x="{PAD:g}" y="{LABEL_H - PAD:g}" font-size="{SMALL_SIZE:g}" fill="#333">SKU {escape(label.sku)}</text>'
    )
    size, rectangles = qr_rectangles(label.qr_url)
    path = "".join(f"M{c} {r}h{w}v{h}h-{w}z" for r, c, w, h in rectangles)
    out.append(
        f'<svg x="{LABEL_W - PAD - QR_SIZE:g}" y="{PAD:g}" width="{QR_SIZE:g}" height="{QR_SIZE:g}" '
        f'viewBox="0 0 {size} {size}" shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path d="{path}" fill="#000"/></svg>'
    )
    out.append("</g>")
    return "".join(out)


# --- PDF ---


def pdf_text(text: str) -> str:
    """Text the PDF's standard fonts can show (Windows-1252): accents decomposed where that helps, other
    characters as `?`. The SVG sheet shows every character."""
    out = []
    for ch in text:
        try:
            ch.encode("cp1252")
            out.append(ch)
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", ch).encode("cp1252", "ignore").decode("cp1252")
            out.append(base or "?")
    return "".join(out)


def pdf_sheet(labels: Sequence[Label], *, title: str = "Shelf labels") -> bytes:
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=LETTER, pageCompression=1)
    c.setTitle(title)
    c.setCreator("commerce")
    current_page = 0
    for label, (page, x, y) in zip(labels, positions(len(labels)), strict=True):
        if page != current_page:
            c.showPage()
            current_page = page
        _pdf_label(c, label, x, PAGE_H - y - LABEL_H)
    c.showPage()
    c.save()
    return buffer.getvalue()


def _pdf_label(c: canvas.Canvas, label: Label, x: float, y: float) -> None:
    """One label with its bottom-left corner at (x, y) (PDF coordinates grow upwards)."""
    c.setStrokeColorRGB(0.73, 0.73, 0.73)
    c.setLineWidth(0.5)
    c.roundRect(x + 0.5, y + 0.5, LABEL_W - 1, LABEL_H - 1, 6, stroke=1, fill=0)
    c.setFillColorRGB(0, 0, 0)
    ty = y + LABEL_H - PAD - TITLE_SIZE
    c.setFont(TITLE_FONT, TITLE_SIZE)
    for line in wrap(pdf_text(label.title), TEXT_W, TITLE_FONT, TITLE_SIZE, TITLE_LINES):
        c.drawString(x + PAD, ty, line)
        ty -= TITLE_SIZE * 1.2
    price_y = y + PAD + SMALL_SIZE * 1.6 + 4
    if label.regular:
        regular = pdf_text(label.regular)
        c.setFont(SMALL_FONT, SMALL_SIZE + 1)
        c.setFillColorRGB(0.33, 0.33, 0.33)
        ry = price_y + PRICE_SIZE + 2
        c.drawString(x + PAD, ry, regular)
        width = stringWidth(regular, SMALL_FONT, SMALL_SIZE + 1)
        c.line(x + PAD, ry + (SMALL_SIZE + 1) * 0.3, x + PAD + width, ry + (SMALL_SIZE + 1) * 0.3)
        c.setFillColorRGB(0, 0, 0)
    c.setFont(PRICE_FONT, PRICE_SIZE)
    c.drawString(x + PAD, price_y, pdf_text(label.price))
    c.setFont(SMALL_FONT, SMALL_SIZE)
    c.drawString(x + PAD, y + PAD, pdf_text(f"SKU {label.sku}"))
    size, rectangles = qr_rectangles(label.qr_url)
    module = QR_SIZE / size
    qx, qtop = x + LABEL_W - PAD - QR_SIZE, y + LABEL_H - PAD
    path = c.beginPath()
    for r, col, w, h in rectangles:
        path.rect(qx + col * module, qtop - (r + h) * module, w * module, h * module)
    c.drawPath(path, stroke=0, fill=1)
