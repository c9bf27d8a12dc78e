"""``amber2 proxies --corpus DIR --out DIR``: can the synthetic annotators stand in for the humans?"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``proxies`` command."""

    @app.command("proxies")
    def proxies(
        corpus: Path = typer.Option(..., "--corpus", help="Prepared corpus folder with synthetic votes."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder for proxies.json, proxies.md and the figures."),
        policy: str | None = typer.Option(
            None, "--policy", help="Label policy (name or file) choosing the human raters and classes "
            "(default: the one the corpus was prepared with, else eq1)."),
        source: str | None = typer.Option(None, "--source", help="Synthetic source <backend>:<model> "
                                          "(needed when the corpus holds several)."),
        n_max: int | None = typer.Option(None, "--n-max", min=1, max=1000, help="Largest N of the saturation "
                                         "curve (default: the fewest valid synthetic votes of an utterance)."),
        subsets: int = typer.Option(5, "--subsets", min=1, max=1000, help="Random subsets per N."),
        seed: int = typer.Option(0, "--seed", help="Seed of the random subsets."),
        figures: bool = typer.Option(True, "--figures/--no-figures", help="Draw the PNG figures."),
    ) -> None:
        """Compare synthetic and human votes: JS/BC, kappa, majority agreement, saturation, per ambiguity tertile."""
        from rich.console import Console
        from rich.markdown import Markdown

        from amber2.cli._errors import user_errors
        from amber2.corpora.table import CorpusTable
        from amber2.labels import load_policy
        from amber2.labels.proxies import analyse_proxies
        from amber2.report.proxies import write_proxies
        from amber2.utils.io import read_json

        with user_errors():
            table = CorpusTable.read(corpus)
            name = policy
            summary = corpus / "summary.json"
            if name is None and summary.exists():
                name = (read_json(summary).get("prepare") or {}).get("policy")
            result = analyse_proxies(table, load_policy(name or "eq1"), source=source, n_max=n_max,
                                     subsets=subsets, seed=seed)
            written = write_proxies(result, out, figures=figures)
        Console().print(Markdown(written.markdown))
        typer.echo(f"written: {written.json_path}, {written.markdown_path}")
