"""``amber2 report RUN_DIR``: the Markdown report (+ figures) of a training run."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``report`` command."""

    @app.command("report")
    def report(
        run_dir: Path = typer.Argument(..., help="Run directory written by 'amber2 train'."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Markdown file to write (default RUN/report.md)."),
        title: str | None = typer.Option(None, "--title", help="Report title (default from the corpus name)."),
        note: str | None = typer.Option(None, "--note", help="A paragraph under the title describing the data."),
        bins: int = typer.Option(4, "--bins", min=1, help="Equal-count ambiguity bins (Fig. 2)."),
        figures: bool = typer.Option(True, "--figures/--no-figures", help="Draw the PNG figures."),
    ) -> None:
        """Write RUN/report.md with tables, figures and interpretation; print a summary and its path."""
        from rich import box
        from rich.console import Console
        from rich.table import Table

        from amber2.cli._errors import user_errors
        from amber2.metrics import METRICS, REPORTED_METRICS
        from amber2.report.markdown import build_report
        from amber2.report.tables import SYSTEM_LABELS

        console = Console()
        with user_errors():
            if not run_dir.is_dir():
                raise NotADirectoryError(f"{run_dir} is not a directory (give the run directory of 'amber2 train')")
            rep = build_report(run_dir, out=out, title=title, corpus_note=note, n_bins=bins, figures=figures)
        summary = rep.numbers.get("summary") or {}
        names = {**SYSTEM_LABELS, "baseline_fusion": "Baseline (A+T)", "amber2_audio": "AmbER² audio expert",
                 "amber2_text": "AmbER² text expert"}
        table = Table(title=f"{rep.numbers.get('title')} (mean over seeds; ± std in the report)",
                      title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("System")
        for m in REPORTED_METRICS:
            table.add_column(f"{METRICS[m].label} {'↑' if METRICS[m].higher_is_better else '↓'}", justify="right")
        main = [s for s in summary if not s.startswith("amber2_")]
        best = {}
        for m in REPORTED_METRICS:
            vals = {s: summary[s][m]["mean"] for s in main if summary[s].get(m)}
            if vals:
                pick = max if METRICS[m].higher_is_better else min
                best[m] = pick(vals, key=lambda k, v=vals: v[k])
        for system, vals in summary.items():
            cells = []
            for m in REPORTED_METRICS:
                s = vals.get(m)
                cell = f"{s['mean']:.3f}" if s and s.get("mean") is not None else "–"
                cells.append(f"[bold]{cell}[/bold]" if best.get(m) == system else cell)
            table.add_row(names.get(system, system), *cells, style="dim" if system.startswith("amber2_") else None)
        console.print(table)
        for line in (rep.numbers.get("sentences") or {}).get("headline", []):
            console.print(line, highlight=False)
        if rep.figures:
            console.print(f"figures: {len(rep.figures)} in {rep.path.parent / 'figures'}", highlight=False)
        typer.echo(str(rep.path))
