"""Fixtures for the label-policy tests."""

from __future__ import annotations

import pytest
from _labels_tables import IEMOCAP_BLOCKS, iemocap_table

from amber2.corpora.table import CorpusTable


@pytest.fixture
def iemocap_blocks() -> CorpusTable:
    """The three real EmoEvaluation blocks (docs/corpora.md) as a corpus table."""
    return iemocap_table(IEMOCAP_BLOCKS)
