"""Spreadsheet-safe CSV cells: text that a spreadsheet would run as a formula is escaped.

A cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) is taken as a formula
by Excel, LibreOffice and Google Sheets ("CSV injection"): an utterance id such as
``=HYPERLINK(...)`` in a corpus would run when someone opens amber2's output. Every CSV amber2
writes passes its text cells through :func:`escape_cell`, which prefixes such a cell with ``'``
(shown literally by spreadsheets). The rule is reversible: a cell that already starts with ``'``
is prefixed too, and :func:`unescape_cell` strips exactly one ``'``, so amber2 reads its own files
(``folds.csv``, ``scores.csv``, ...) back to the original text. Numbers are never touched.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["escape_cell", "escape_frame", "unescape_cell", "unescape_frame"]

_RISKY = ("=", "+", "-", "@", "\t", "\r", "'")


def escape_cell(value: Any) -> Any:
    """``'`` + value for text starting with a formula character (or ``'``); anything else as is."""
    if isinstance(value, str) and value.startswith(_RISKY):
        return "'" + value
    return value


def unescape_cell(value: Any) -> Any:
    """Undo :func:`escape_cell`."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1:].startswith(_RISKY):
        return value[1:]
    return value


def escape_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells (object and string columns) are escaped."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(escape_cell)
    return out


def unescape_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its text cells unescaped (in place; returned for chaining)."""
    for col in df.columns:
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
            df[col] = df[col].map(unescape_cell)
    return df
