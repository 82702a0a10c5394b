"""Report sections: the CT-RATE columns, plus headers written inside a free-text report.

A hospital export often keeps everything in one field ("FINDINGS: ... IMPRESSION: ..."). A header at the
start of a line or sentence moves the text after it to its section; text before the first header stays in the
column's own section.
"""

from __future__ import annotations

import re

from radgenome.model import Report, Section

_HEADERS = {
    "findings": Section.FINDINGS,
    "finding": Section.FINDINGS,
    "report": Section.FINDINGS,
    "impression": Section.IMPRESSIONS,
    "impressions": Section.IMPRESSIONS,
    "conclusion": Section.IMPRESSIONS,
    "conclusions": Section.IMPRESSIONS,
    "result": Section.IMPRESSIONS,
    "results": Section.IMPRESSIONS,
    "technique": Section.TECHNIQUE,
    "clinical information": Section.CLINICAL,
    "clinical history": Section.CLINICAL,
    "history": Section.CLINICAL,
    "indication": Section.CLINICAL,
}
_HEADER_NAMES = "|".join(sorted(_HEADERS, key=len, reverse=True))
_HEADER = re.compile(
    r"(?:(?<=^)|(?<=\n)|(?<=[.!?]\s)|(?<=[.!?]\s\s))\s*(" + _HEADER_NAMES + r")\s*:",
    re.IGNORECASE,
)

_ORDER = (Section.CLINICAL, Section.TECHNIQUE, Section.FINDINGS, Section.IMPRESSIONS)


def split_sections(report: Report) -> list[tuple[Section, str, int]]:
    """``(section, text, offset)`` pieces in report order.

    Headers found inside a column re-route the text after them; ``offset`` is where the piece starts in its
    column's text, so sentence spans can point into the column.
    """
    pieces: list[tuple[Section, str, int]] = []
    for section in _ORDER:
        text = report.section_text(section)
        if not text or not text.strip():
            continue
        if ":" not in text:
            pieces.append((section, text, 0))
            continue
        current = section
        pos = 0
        for m in _HEADER.finditer(text):
            if text[pos : m.start()].strip():
                pieces.append((current, text[pos : m.start()], pos))
            current = _HEADERS[m.group(1).lower()]
            pos = m.end()
        if text[pos:].strip():
            pieces.append((current, text[pos:], pos))
    return pieces
