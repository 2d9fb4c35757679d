"""One combined PDF of many briefings, made briefing by briefing on disk.

Rendered as one WeasyPrint document, 100 briefings peaked at 1.76 GB: the
layout of every page of every briefing is held until the PDF is written.
Here each briefing is rendered alone to a file in a temporary directory as
it is made (its layout freed before the next), then the contents page, whose
page numbers are known by then, and the files are joined (pypdf, reading
each file's pages) into the target: the memory held is one briefing's layout
and the finished pages, not the whole batch's layout.

Each part carries the stylesheets and the font it uses (the parts are
separate PDFs), so the file is somewhat larger than one render gave; each
briefing is a bookmark in the PDF's outline.
"""

import io
import tempfile
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO

from flask import current_app, render_template
from pypdf import PdfReader, PdfWriter

from reports.briefing.batch import Batch, Outcome
from reports.briefing.render import briefing_body, page_size
from reports.pdf import render_pdf

TEMPLATE = "reports/briefing_batch_pdf.html"


def write_combined_pdf(
    batch: Batch,
    outcomes: Iterable[Outcome],
    target: BinaryIO,
    *,
    meeting_date: date | None,
    generated_at: datetime,
    link_base: str | None = None,
) -> list[Outcome]:
    """Write the contents page and then each briefing, from a new page, to
    `target`, consuming `outcomes` one at a time; the outcomes."""
    context = {
        "title": batch.title,
        "meeting_date": meeting_date,
        "generated_at": generated_at,
        "page_size": page_size(current_app.config.get("PDF_PAGE_SIZE")),
    }
    done: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="touchline-briefings-") as work:
        parts: list[tuple[Outcome, Path, int]] = []
        for outcome in outcomes:
            done.append(outcome)
            if outcome.briefing is None:
                continue
            body = briefing_body(outcome.briefing, for_pdf=True, link_base=link_base)
            html = render_template(
                TEMPLATE, **context, briefings=[(outcome.briefing, body)], cover=False, failed=[]
            )
            path = Path(work) / f"{len(parts):05}.pdf"
            path.write_bytes(render_pdf(html))
            parts.append((outcome, path, len(PdfReader(path).pages)))
        failed = [outcome for outcome in done if outcome.error]
        cover = _cover(context, parts, failed)
        writer = PdfWriter()
        writer.append(io.BytesIO(cover))
        for outcome, path, _ in parts:
            writer.append(str(path), outline_item=outcome.name)
        writer.add_metadata({"/Title": f"Briefings: {batch.title}"})
        writer.write(target)
    return done


def _cover(context: dict, parts: list, failed: list[Outcome]) -> bytes:
    """The contents page with the page each briefing starts on. Its own length
    moves those numbers, so it is made again until it stops changing (once,
    unless the contents run over a page boundary)."""
    cover_pages, cover = 1, b""
    for _ in range(3):
        starts, page = {}, cover_pages + 1
        for outcome, _, pages in parts:
            starts[outcome.slug] = page
            page += pages
        html = render_template(
            TEMPLATE,
            **context,
            briefings=[(outcome.briefing, None) for outcome, _, _ in parts],
            cover=True,
            start_pages=starts,
            failed=failed,
        )
        cover = render_pdf(html)
        length = len(PdfReader(io.BytesIO(cover)).pages)
        if length == cover_pages:
            break
        cover_pages = length
    return cover
