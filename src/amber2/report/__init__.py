"""amber2.report: the paper's tables, plots and the Markdown report of a run.

:func:`write_report` turns a run directory (``amber2 train``) into ``report.md`` + ``figures/*.png``
+ ``report.json``; :func:`build_report` also returns the numbers. The DataFrames behind the report
(:func:`bins_frame`, :func:`expert_weight_frame`, ...) are public for custom analyses.
"""

from __future__ import annotations

from amber2.report.analysis import (
    bins_frame,
    bins_summary,
    confusion_matrices,
    expert_weight_frame,
    expert_weight_summary,
    fold_seed_frame,
    fold_summary_frame,
    grid_frame,
    provenance,
    row_normalise,
)
from amber2.report.markdown import Report, build_report, write_report
from amber2.report.tables import comparison_markdown, format_cell, paper_tables_markdown

__all__ = [
    "Report",
    "bins_frame",
    "bins_summary",
    "build_report",
    "comparison_markdown",
    "confusion_matrices",
    "expert_weight_frame",
    "expert_weight_summary",
    "fold_seed_frame",
    "fold_summary_frame",
    "format_cell",
    "grid_frame",
    "paper_tables_markdown",
    "provenance",
    "row_normalise",
    "write_report",
]
