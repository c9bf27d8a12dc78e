"""The workflow layer: the public API points at it, and the stages below never import it."""

from __future__ import annotations

import subprocess
import sys

import amber2


def test_public_api_points_at_the_workflow_layer():
    from amber2.workflow import demo, prepare, run

    assert amber2.prepare_corpus is prepare.prepare_corpus
    assert amber2.train_from_config is run.train_from_config
    assert amber2.write_run is run.write_run
    assert amber2.run_demo is demo.run_demo


def test_stages_load_without_the_workflow_layer():
    """Importing every stage (lazy imports included, by calling nothing) pulls in no workflow module."""
    code = (
        "import sys\n"
        "import amber2.corpora, amber2.labels, amber2.encoders, amber2.model.heads, amber2.losses, "
        "amber2.training.protocol, amber2.training.outputs, amber2.report, amber2.inference, amber2.demo\n"
        "print(sorted(m for m in sys.modules if m.startswith('amber2.workflow')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def amber2_labels():
    import amber2.labels

    return amber2.labels


def test_one_list_of_canonical_labels():
    import amber2.labels.apply as apply
    from amber2.corpora.vocab import CANONICAL_LABELS

    assert apply.CANONICAL_LABELS is CANONICAL_LABELS
    assert not hasattr(amber2_labels(), "CANONICAL_ORDER")


def test_demo_defaults_defined_once():
    from amber2.demo.raters import EvidenceModel
    from amber2.demo.synth import SimulationConfig

    assert SimulationConfig().evidence_model() == EvidenceModel()


def test_the_import_contract_holds():
    """``lint-imports --config .importlinter`` (the contract of docs/architecture.md) passes."""
    import os
    from pathlib import Path

    import pytest

    pytest.importorskip("importlinter")
    root = Path(__file__).resolve().parents[2]
    src = Path(amber2.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    out = subprocess.run([sys.executable, "-c", code, "--config", str(root / ".importlinter"), "--no-cache"],
                         capture_output=True, text=True, cwd=root, env=env, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
