"""The Examples sections of the metric and loss docstrings run and are right."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "amber2.metrics.distribution",
    "amber2.metrics.classification",
    "amber2.metrics.registry",
    "amber2.metrics.ambiguity",
    "amber2.losses.divergence",
    "amber2.losses.teacher_student",
    "amber2.losses.class_balanced",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    globs = {**vars(module)}
    result = doctest.testmod(module, globs=globs, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
