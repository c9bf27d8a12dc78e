"""``amber2 demo``: the whole study on the bundled simulated corpus, in minutes, offline."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command."""

    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Output folder."),
        seeds: int = typer.Option(5, min=1, help="Number of seeds (0..n-1)."),
        folds: int = typer.Option(5, min=2, help="Speaker-disjoint folds."),
        speakers: int | None = typer.Option(None, help="Simulated speakers (default: the simulator's)."),
        per_speaker: int | None = typer.Option(None, help="Utterances per speaker (default: the simulator's)."),
        seed: int = typer.Option(0, help="Seed of the simulated corpus."),
        epochs: int | None = typer.Option(None, min=1, help="Epochs per training run (default: the protocol's 30)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="If OUT holds a demo made with other corpus "
                                       "settings, remove its corpus and everything derived from it (prepared "
                                       "corpus, embeddings, training run, report) and start again."),
        override: list[str] | None = typer.Option(None, "--set", help="Training override, e.g. optim.lr=1e-3 or "
                                                  "protocol.validation.strategy=fraction."),
        study: str | None = typer.Option(None, "--study", help="A study: 'experts' runs the demo and also "
                                         "AmbER²'s options beyond the paper on the demo corpus and on one whose words "
                                         "carry no emotion, into OUT/experts, its table added to the report; "
                                         "'annotators' runs instead of the demo the known-truth study of synthetic "
                                         "annotators, into OUT/study-annotators (uses --speakers, --per-speaker, "
                                         "--seed and --epochs, its own other sizes)."),
    ) -> None:
        """Generate a simulated corpus, extract features, train the baseline and AmbER², write the report.

        Re-running into the same folder reuses the corpus, the cached embeddings and a training run
        made with the same settings.
        """
        import dataclasses

        from amber2.cli._errors import user_errors
        from amber2.demo.synth import SimulationConfig, SimulationError
        from amber2.workflow.demo import DemoConfig, run_demo

        if study is not None and study not in STUDIES:
            raise typer.BadParameter(f"unknown study {study!r}; choose one of {', '.join(STUDIES)}",
                                     param_hint="--study")
        if study == "annotators":
            _run_study(study, out, speakers=speakers, per_speaker=per_speaker, seed=seed, epochs=epochs)
            return
        with user_errors(SimulationError):
            changes: dict = {"seed": seed}
            if speakers is not None:
                changes["n_speakers"] = speakers
            if per_speaker is not None:
                changes["utterances_per_speaker"] = per_speaker
            sim = dataclasses.replace(SimulationConfig(), **changes)
            res = run_demo(out, DemoConfig(simulation=sim, seeds=list(range(seeds)), folds=folds, max_epochs=epochs,
                                           overrides=list(override or [])), progress=True, overwrite=overwrite)
            if study == "experts":
                from amber2.workflow.experts_study import run_experts_study

                done = run_experts_study(out / "experts", DemoConfig(simulation=sim, seeds=list(range(seeds)),
                                         folds=folds, max_epochs=epochs, overrides=list(override or [])),
                                         progress=True, overwrite=overwrite, report=res.report, demo_dir=out)
                typer.echo(f"study:   {done.study}\n{done.table}")
        t = res.timings
        typer.echo("stages: " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items()) + f" (total {sum(t.values()):.0f} s)"
                   + ("; training reused from an identical earlier run" if res.training_reused else ""))
        typer.echo(f"results: {res.results}")
        typer.echo(f"report:  {res.report}")


#: The studies ``amber2 demo --study NAME`` runs.
STUDIES: tuple[str, ...] = ("experts", "annotators")


def _run_study(name: str, out: Path, *, speakers: int | None, per_speaker: int | None, seed: int,
               epochs: int | None) -> None:
    """``--study annotators``: :func:`amber2.workflow.annotator_study.run_annotator_study`."""
    import dataclasses

    if name not in STUDIES:
        raise typer.BadParameter(f"unknown study {name!r}; choose one of: {', '.join(STUDIES)}", param_hint="--study")
    from amber2.cli._errors import user_errors
    from amber2.demo.synth import SimulationError
    from amber2.workflow.annotator_study import StudyConfig, run_annotator_study

    cfg = StudyConfig()
    changes: dict = {"seed": seed}
    if speakers is not None:
        changes["n_speakers"] = speakers
    if per_speaker is not None:
        changes["utterances_per_speaker"] = per_speaker
    cfg.simulation = dataclasses.replace(cfg.simulation_config(), **changes)
    if epochs is not None:
        cfg.max_epochs = int(epochs)
    with user_errors(SimulationError):
        res = run_annotator_study(out / "study-annotators", cfg, progress=True)
    t = res.payload["timings_s"]
    typer.echo("stages: " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items()) + f" (total {sum(t.values()):.0f} s)")
    typer.echo(f"results: {res.results}")
    typer.echo(f"report:  {res.report}")
