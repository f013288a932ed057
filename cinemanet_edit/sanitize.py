"""Text made safe for the format it is written to: a clip name or a path from a stranger's timeline must not
add an EDL event, break an XML document or become a spreadsheet formula."""

from __future__ import annotations

import unicodedata


def one_line(text) -> str:
    """Text for one line of a line-based format (EDL): control characters, newlines above all, become spaces."""
    text = str(text)
    if text.isprintable():  # no control or separator character at all: most text, checked at C speed
        return text.strip()
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text).strip()


def xml_text(text) -> str:
    """Text XML 1.0 can carry: control characters other than tab and newline, lone surrogates and U+FFFE/FFFF
    become spaces."""
    return "".join(" " if (unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\n") or ch in "\ufffe\uffff"
                   else ch for ch in str(text))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text) -> str:
    """A text cell no spreadsheet runs as a formula (``=cmd|...``, ``+HYPERLINK(...)``, ``@SUM(...)``): such
    cells get a leading apostrophe, as OWASP advises; control characters become spaces."""
    text = one_line(text) if any(ch in str(text) for ch in "\r\n") else str(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
