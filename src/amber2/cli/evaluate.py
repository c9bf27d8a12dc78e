"""``amber2 evaluate``: a saved model on embeddings + labels (a prepared corpus or arrays)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` command."""

    @app.command("evaluate")
    def evaluate_cmd(
        model: Path = typer.Argument(..., help="Model bundle / checkpoint directory."),
        corpus: Path | None = typer.Option(None, help="Prepared corpus folder (amber2 prepare)."),
        embeddings: Path | None = typer.Option(None, help="Embedding cache (amber2 extract)."),
        arrays: Path | None = typer.Option(None, help=".npz / folder of arrays instead of corpus + cache."),
        policy: str | None = typer.Option(None, help="Label policy (default: the one the corpus was prepared with)."),
        fold: int | None = typer.Option(
            None, help="Score only the items of this test fold (default: every item; no fold file needed)."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Write the scores as JSON here."),
        allow_version_mismatch: bool = typer.Option(False, "--allow-version-mismatch", help="Load a model saved "
                                                    "by an incompatible amber2 version anyway (with a warning)."),
        device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... (default: GPU if any)."),
    ) -> None:
        """Score every head of a model: all metrics, plus the student per ambiguity bin."""
        import numpy as np
        from rich.console import Console
        from rich.table import Table

        from amber2.cli._errors import user_errors
        from amber2.inference.bundle import read_bundle_info
        from amber2.training.config import DataConfig
        from amber2.training.evaluate import evaluate_model
        from amber2.training.loading import load_training_data
        from amber2.utils.io import atomic_write_json

        with user_errors():
            # the version policy of model bundles (evaluate_model reads the checkpoint without it)
            read_bundle_info(model, allow_version_mismatch=allow_version_mismatch)

            def _s(p: Path | None) -> str | None:
                return None if p is None else str(p)

            td = load_training_data(DataConfig(corpus=_s(corpus), embeddings=_s(embeddings), arrays=_s(arrays),
                                               policy=policy), require_folds=fold is not None)
            data = td.data
            if fold is not None:
                idx = np.flatnonzero(td.folds == fold)
                if len(idx) == 0:
                    raise ValueError(f"fold {fold} has no items (folds: {sorted(set(td.folds.tolist()))})")
                data = data.subset(idx)
            res = evaluate_model(model, data, device=device)
        table = Table(title=f"{res['n_items']} items · student: {res['student']}")
        metrics = list(next(iter(res["heads"].values())))
        heads = list(res["heads"])
        table.add_column("metric")
        for h in heads:
            table.add_column(h, justify="right")
        for m in metrics:
            table.add_row(m, *(f"{res['heads'][h][m]:.3f}" for h in heads))
        Console().print(table)
        if out:
            atomic_write_json(out, res)
            typer.echo(f"scores: {out}")
