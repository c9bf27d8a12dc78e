"""``amber2 train``: the protocol (AmbER² and the CB-CE baseline) from a YAML config + overrides."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``train`` command."""

    @app.command("train")
    def train(
        config: Path | None = typer.Argument(None, help="YAML config (see docs); defaults = the paper's protocol."),
        overrides: list[str] | None = typer.Argument(
            None, help="Dotted overrides, e.g. optim.lr=1e-3 protocol.seeds=[0,1]."
        ),
        out: Path | None = typer.Option(None, "--out", "-o", help="Run directory (default: config 'out')."),
        corpus: Path | None = typer.Option(None, help="Prepared corpus folder (sets data.corpus)."),
        embeddings: Path | None = typer.Option(None, help="Embedding cache (sets data.embeddings)."),
        arrays: Path | None = typer.Option(None, help=".npz / folder of arrays (sets data.arrays)."),
        policy: str | None = typer.Option(None, help="Label policy name or file (sets data.policy)."),
        final_model: bool = typer.Option(True, help="Also fit the deployable model on all items (OUT/model)."),
        device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... (default: GPU if any)."),
    ) -> None:
        """Run k-fold x seeds x grid for AmbER² and the baseline; write tables, metrics and the model."""
        from rich.console import Console
        from rich.markdown import Markdown

        from amber2.cli._errors import user_errors
        from amber2.training.config import load_config
        from amber2.utils.progress import progress_bar
        from amber2.workflow.run import train_from_config

        ov = list(overrides or [])
        if config is not None and "=" in str(config) and not config.exists():
            ov.insert(0, str(config))  # an override in the config position
            config = None
        for key, val in (("data.corpus", corpus), ("data.embeddings", embeddings), ("data.arrays", arrays),
                         ("data.policy", policy)):
            if val is not None:
                ov.append(f"{key}={val}")
        console = Console()
        with user_errors():
            cfg = load_config(config, ov)
            with progress_bar(True) as prog:
                task = prog.add_task("training (epochs)", total=None)

                def tick(done: int, total: int) -> None:
                    prog.update(task, completed=done, total=total)

                outcome = train_from_config(cfg, out=out, final_model=final_model, on_progress=tick,
                                           device=device)
        console.print(Markdown((outcome.out / "tables.md").read_text()))
        console.print(f"run directory: {outcome.out}")
        if outcome.model_dir:
            console.print(f"model bundle:  {outcome.model_dir}")
