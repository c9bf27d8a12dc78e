r"""``amber2 demo --study annotators``: do synthetic votes bring targets, and AmbER², closer to the truth?

The simulated corpus knows each item's population distribution :math:`p^{\text{true}}` (the expected
vote of a pool rater), which no real corpus does. This study uses it to measure directly what the
"Scaling Ambiguity" recipe (synthetic annotators' votes appended to the human ones) does to the targets
and to the models trained on them. Stages, all offline::

    1. corpus     simulated corpus, prepared (speaker folds), embedded      DIR/corpus, prepared, embeddings
    2. votes      two synthetic sources, N_max votes per item:
                  - the simulated ALM (amber2.demo.alm, its documented default parameters)
                  - the bundle backend: for every fold f an AmbER² model trained on the human targets
                    of the *other* folds annotates fold f through annotate_prepared (so no item is
                    annotated by a model that saw its own target)                   DIR/bundles/fold<f>/
                  then the proxies analysis of each source (amber2 proxies)          DIR/proxies/<source>/
    3. targets    human (the corpus's 3-7 votes), synthetic (first N), combined (human + first N
                  synthetic, each one vote; label policy votes=combined, synthetic_n=N), N in n_values;
                  JS distance and BC of each target to p_true, overall and per ambiguity tertile
    4. models     AmbER² and the CB-CE baseline (fusion head) trained on every target choice, with and
                  without DiME-Aug (embedding space), over the protocol's folds and seeds; their test
                  predictions scored against p_true and against the held-out items' human votes;
                  paired Wilcoxon signed-rank tests of each choice against human targets over the
                  (fold, seed) units, Benjamini-Hochberg adjusted within each family
    5. report     DIR/annotator_study.json, DIR/annotator_study.md, DIR/figures/annotator_study_*.png

Ambiguity tertiles are equal-count tertiles of the normalised entropy of :math:`p^{\text{true}}`
(:math:`H(p^{\text{true}}) / \log C`): the item's real ambiguity, not its noisy estimate from a few votes.

JS is the Jensen-Shannon distance (natural log, the paper's "JS"); BC the Bhattacharyya coefficient.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amber2.utils.io import atomic_write_json, atomic_write_text

__all__ = ["CHOICES", "StudyConfig", "StudyResult", "run_annotator_study", "target_choices"]

log = logging.getLogger(__name__)

#: Name of the bundle backend's model in the rater ids: one model per fold, each annotating only its fold.
BUNDLE_MODEL = "amber2-other-folds"
#: Sources of synthetic votes (``<backend>:<model>`` in rater ids) the study can compare.
SOURCES: dict[str, str] = {"simulated": "simulated:sim-alm", "bundle": f"bundle:{BUNDLE_MODEL}"}
#: Target choices besides ``human``: the vote choice of the label policy.
CHOICES: tuple[str, ...] = ("synthetic", "combined")
#: Systems trained on each target choice: AmbER² and the CB-CE baseline's fusion head.
SYSTEMS: tuple[str, ...] = ("amber2", "baseline_fusion")
TERTILES: tuple[str, ...] = ("low", "medium", "high")
_MAX_N = 1000


@dataclass
class StudyConfig:
    """Settings of the study; the defaults are sized to finish in under 15 minutes on 2 cores.

    Attributes:
        simulation: Simulator settings (None: 24 speakers x 20 utterances, the simulator's defaults
            otherwise; 480 items keep 96 test items per fold).
        folds: Speaker-disjoint folds.
        seeds: Training seeds (2: a paired test over 5 folds x 2 seeds = 10 units).
        n_values: Numbers of synthetic votes N compared.
        sources: Which synthetic sources (``simulated``, ``bundle``).
        max_epochs: Epochs per training run.
        lambda_mai, kappa: AmbER²'s fixed weights (the paper's grid centre) instead of the 3 x 3 grid:
            the study compares targets, not grid points, and the grid would cost 9x the training.
        dime: Train with and without DiME-Aug (embedding space, the seed's ratio 0.3 and k 3).
        preset: Encoder preset (``offline`` needs no network).
        threads: torch threads (None: torch's default).
    """

    simulation: Any = None
    folds: int = 5
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    n_values: list[int] = field(default_factory=lambda: [3, 10, 20])
    sources: list[str] = field(default_factory=lambda: ["simulated", "bundle"])
    max_epochs: int = 20
    lambda_mai: float = 0.5
    kappa: float = 4.0
    dime: bool = True
    preset: str = "offline"
    threads: int | None = None

    def __post_init__(self) -> None:
        bad = [s for s in self.sources if s not in SOURCES]
        if bad or not self.sources:
            raise ValueError(f"study sources must be among {sorted(SOURCES)}, got {self.sources!r}")
        if not self.n_values or any(isinstance(n, bool) or not 1 <= int(n) <= _MAX_N for n in self.n_values):
            raise ValueError(f"n_values must be integers in 1..{_MAX_N}, got {self.n_values!r}")
        self.n_values = sorted({int(n) for n in self.n_values})
        if not 2 <= int(self.folds) <= 20:
            raise ValueError(f"folds must be in 2..20, got {self.folds}")
        if not 1 <= int(self.max_epochs) <= 1000:
            raise ValueError(f"max_epochs must be in 1..1000, got {self.max_epochs}")
        if not self.seeds:
            raise ValueError("at least one seed is needed")

    def simulation_config(self) -> Any:
        """The simulator settings used (the default size when none were given)."""
        from amber2.demo.synth import SimulationConfig

        return self.simulation or SimulationConfig(n_speakers=24, utterances_per_speaker=20)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        d = {k: v for k, v in dataclasses.asdict(self).items() if k != "simulation"}
        d["simulation"] = dataclasses.asdict(self.simulation_config())
        return d


@dataclass
class StudyResult:
    """Paths and numbers of a finished study."""

    out: Path
    results: Path
    report: Path
    figures: list[Path]
    payload: dict[str, Any]


def target_choices(n_values: Sequence[int]) -> list[tuple[str, str, int | None]]:
    """``(label, votes, N)`` of every target choice: human, then synthetic and combined per N."""
    out: list[tuple[str, str, int | None]] = [("human", "human", None)]
    for votes in CHOICES:
        out += [(f"{votes}@{n}", votes, int(n)) for n in n_values]
    return out


# ---------------------------------------------------------------------------------------- the study
def run_annotator_study(out: str | os.PathLike[str] = "runs/annotator-study", config: StudyConfig | None = None,
                        *, progress: bool = False) -> StudyResult:
    """Run the known-truth study (see the module docstring) and write its JSON, Markdown and figures.

    Args:
        out: Output folder (a corpus made there before with the same settings is reused).
        config: Settings.
        progress: Show progress bars.

    Returns:
        :class:`StudyResult`.
    """
    import torch

    from amber2.demo.alm import add_alm_votes_to_folder, item_signals
    from amber2.demo.synth import generate_corpus
    from amber2.encoders import extract
    from amber2.metrics import entropy
    from amber2.workflow.demo import demo_policy
    from amber2.workflow.prepare import prepare_corpus

    config = config or StudyConfig()
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    n_max = max(config.n_values)

    t = time.perf_counter()
    sim = generate_corpus(out / "corpus", config.simulation_config(), progress=progress)
    prepared = out / "prepared"
    policy = demo_policy()
    policy_file = policy.save(prepared / "policy.json")
    prepare_corpus("manifest", sim.manifest, prepared, policy=policy, k=config.folds, progress=progress,
                   speakers_disjoint=True)
    extract(prepared, preset=config.preset, cache_dir=out / "embeddings", progress=progress)
    timings["corpus"] = time.perf_counter() - t

    t = time.perf_counter()
    human = _training_data(prepared, out / "embeddings", policy_file, {})
    classes = list(human.data.classes)
    signals = item_signals(out / "corpus").subset(list(human.data.ids))
    order = [list(_sim_classes()).index(c) for c in classes]
    p_true = signals.p_true[:, order]
    h = entropy(p_true, base=len(classes))
    tertile = _tertiles(h)
    if "simulated" in config.sources:
        add_alm_votes_to_folder(prepared, out / "corpus", n_max)
    bundle_info = (_annotate_with_bundles(out, prepared, human, n_max, config, progress)
                   if "bundle" in config.sources else {})
    proxies = _proxies(prepared, policy, config.sources, out / "proxies")
    timings["votes"] = time.perf_counter() - t

    t = time.perf_counter()
    choices = target_choices(config.n_values)
    datasets: dict[tuple[str, str], Any] = {}
    targets: dict[str, dict[str, Any]] = {}
    for source in config.sources:
        targets[source] = {}
        for label, votes, n in choices:
            td = human if votes == "human" else _training_data(
                prepared, out / "embeddings", policy_file,
                {"votes": votes, "synthetic_n": n, "synthetic_source": SOURCES[source]})
            if list(td.data.ids) != list(human.data.ids) or not np.array_equal(td.folds, human.folds):
                raise RuntimeError(f"target choice {label} ({source}) dropped or reordered items; the study "
                                   "compares the same items under every choice")
            datasets[(source, label)] = td
            targets[source][label] = _distance_summary(np.asarray(td.data.Y), p_true, tertile)
    target_tests = _target_tests(datasets, p_true, tertile, config.sources, choices)
    timings["targets"] = time.perf_counter() - t

    t = time.perf_counter()
    models, units = _train_all(datasets, human, p_true, tertile, config, progress)
    model_tests = _model_tests(units, config, choices)
    timings["models"] = time.perf_counter() - t

    payload = {
        "schema": "amber2.annotator_study/1",
        "config": config.to_dict(),
        "classes": classes,
        "n_items": len(human.data.ids),
        "folds": {str(int(f)): int((human.folds == f).sum()) for f in np.unique(human.folds)},
        "ambiguity": {"measure": "normalised entropy of p_true (H / log C), equal-count tertiles",
                      "edges": [float(x) for x in _edges(h)],
                      "counts": {t_: int((tertile == k).sum()) for k, t_ in enumerate(TERTILES)}},
        "metrics": {"js": "Jensen-Shannon distance, natural log (lower is better)",
                    "bc": "Bhattacharyya coefficient (higher is better)"},
        "choices": [{"label": lab, "votes": v, "n": n} for lab, v, n in choices],
        "targets": targets,
        "target_tests": target_tests,
        "models": models,
        "model_tests": model_tests,
        "bundle": bundle_info,
        "proxies": proxies,
        "timings_s": timings,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "cpu_count": os.cpu_count(),
    }
    from amber2.report.annotator_study import study_figures, study_markdown

    t = time.perf_counter()
    figures = study_figures(payload, out / "figures")
    report = atomic_write_text(out / "annotator_study.md", study_markdown(payload, figures, base=out))
    timings["report"] = time.perf_counter() - t
    payload["timings_s"] = timings
    results = atomic_write_json(out / "annotator_study.json", payload)
    return StudyResult(out, Path(results), Path(report), figures, payload)


# ---------------------------------------------------------------------------------------- pieces
def _sim_classes() -> tuple[str, ...]:
    from amber2.demo.lexicon import CLASSES

    return CLASSES


def _training_data(prepared: Path, embeddings: Path, policy_file: Path, overrides: dict[str, Any]) -> Any:
    from amber2.training.config import DataConfig
    from amber2.training.loading import load_training_data

    return load_training_data(DataConfig(corpus=str(prepared), embeddings=str(embeddings), policy=str(policy_file),
                                         policy_overrides={k: v for k, v in overrides.items() if v is not None}))


def _edges(h: np.ndarray) -> np.ndarray:
    from amber2.metrics import equal_count_edges

    return equal_count_edges(h, 3)


def _tertiles(h: np.ndarray) -> np.ndarray:
    """Tertile (0 low, 1 medium, 2 high) of every item's normalised true entropy."""
    from amber2.metrics import assign_bins

    return assign_bins(h, _edges(h))


def _per_item(y: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from amber2.metrics import bhattacharyya_per_item, js_distance_per_item

    return js_distance_per_item(ref, y), bhattacharyya_per_item(ref, y)


def _distance_summary(y: np.ndarray, ref: np.ndarray, tertile: np.ndarray) -> dict[str, Any]:
    """Mean JS distance and BC of ``y`` to ``ref``, overall and per tertile."""
    js, bc = _per_item(y, ref)
    out: dict[str, Any] = {"overall": {"js": float(js.mean()), "bc": float(bc.mean())}, "tertiles": {}}
    for k, name in enumerate(TERTILES):
        m = tertile == k
        out["tertiles"][name] = {"js": float(js[m].mean()) if m.any() else None,
                                 "bc": float(bc[m].mean()) if m.any() else None, "n": int(m.sum())}
    return out


def _wilcoxon(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Paired Wilcoxon signed-rank test of ``a`` against ``b`` (scipy), with the mean difference."""
    from scipy.stats import wilcoxon

    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    res: dict[str, Any] = {"n": int(d.size), "mean_diff": float(d.mean()) if d.size else None, "p": None}
    if d.size >= 2 and np.any(d != 0):
        res["p"] = float(wilcoxon(a, b).pvalue)
    return res


def _adjust(tests: list[dict[str, Any]]) -> None:
    """Add Benjamini-Hochberg q-values (scipy) to a family of tests, in place."""
    from scipy.stats import false_discovery_control

    have = [t for t in tests if t.get("p") is not None]
    if have:
        q = false_discovery_control([t["p"] for t in have])
        for t, v in zip(have, q):
            t["q"] = float(v)


def _target_tests(datasets: dict[tuple[str, str], Any], p_true: np.ndarray, tertile: np.ndarray,
                  sources: Sequence[str], choices: Sequence[tuple[str, str, int | None]]) -> list[dict[str, Any]]:
    """Per item paired tests: JS to p_true of each choice's targets against the human targets."""
    tests: list[dict[str, Any]] = []
    for source in sources:
        js_h, _ = _per_item(np.asarray(datasets[(source, "human")].data.Y), p_true)
        for label, _, _ in choices[1:]:
            js_c, _ = _per_item(np.asarray(datasets[(source, label)].data.Y), p_true)
            for k, scope in [(None, "overall"), *enumerate(TERTILES)]:
                m = np.ones(len(js_h), bool) if k is None else tertile == k
                tests.append({"source": source, "choice": label, "scope": scope, "metric": "js_to_p_true",
                              "unit": "item", **_wilcoxon(js_c[m], js_h[m])})
    _adjust(tests)
    return tests


def _train_config(config: StudyConfig, dime: bool) -> Any:
    from amber2.training.config import TrainConfig

    return TrainConfig.model_validate({
        "optim": {"max_epochs": int(config.max_epochs)},
        "protocol": {"seeds": list(config.seeds), "engine": "ensemble", "baseline": "cbce",
                     "grid": {"lambda_mai": [float(config.lambda_mai)], "kappa": [float(config.kappa)]},
                     "validation": {"strategy": "group-fraction"}},
        "augment": {"dime": {"enabled": bool(dime), "space": "embedding"}},
    })


def _train_all(datasets: dict[tuple[str, str], Any], human: Any, p_true: np.ndarray, tertile: np.ndarray,
               config: StudyConfig, progress: bool) -> tuple[dict[str, Any], dict[tuple, dict[str, np.ndarray]]]:
    """Train every (source, choice, DiME) once (human targets once for all sources) and score the tests.

    Returns:
        ``models[source][choice][dime][system]`` summaries and the per (fold, seed) unit scores used by
        the paired tests, keyed ``(source, choice, dime, system)``.
    """
    from amber2.training.data import DataError
    from amber2.training.protocol import run_protocol
    from amber2.utils.progress import progress_bar

    y_human = np.asarray(human.data.Y)
    dimes = [False, True] if config.dime else [False]
    jobs = [(s, lab, d) for s in config.sources for lab in {k[1] for k in datasets if k[0] == s} for d in dimes]
    order = {lab: k for k, (lab, _, _) in enumerate(target_choices(config.n_values))}
    jobs.sort(key=lambda j: (config.sources.index(j[0]), order[j[1]], j[2]))  # the tables' order
    models: dict[str, Any] = {}
    units: dict[tuple, dict[str, np.ndarray]] = {}
    cache: dict[tuple[str, bool], tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]] = {}
    with progress_bar(progress) as bar:
        task = bar.add_task("annotator study: training", total=len(jobs))
        for source, label, dime in jobs:
            key = ("human", dime) if label == "human" else None
            if key is not None and key in cache:
                summary, unit = cache[key]
            else:
                td = datasets[(source, label)]
                try:
                    result = run_protocol(td.data, td.folds, _train_config(config, dime))
                except DataError as exc:  # e.g. a class no synthetic target of a fold's training part has
                    log.warning("annotator study: %s targets (%s, DiME %s) not trained: %s", label, source, dime, exc)
                    summary, unit = {"error": str(exc)}, {}
                else:
                    summary, unit = _score(result, p_true, y_human, tertile)
                    summary["dime_new_items"] = _dime_counts(result)
                if key is not None:
                    cache[key] = (summary, unit)
            models.setdefault(source, {}).setdefault(label, {})["dime" if dime else "plain"] = summary
            for system, u in unit.items():
                units[(source, label, dime, system)] = u
            bar.advance(task)
    return models, units


def _dime_counts(result: Any) -> Any:
    """What DiME-Aug added per fold and class (``results.json``'s ``augment``), or None without it."""
    return (result.info or {}).get("augment")


def _score(result: Any, p_true: np.ndarray, y_human: np.ndarray, tertile: np.ndarray
           ) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Each system's test predictions scored against p_true and against the held-out human votes.

    Returns:
        The summary (mean and std over the (fold, seed) units, JS to p_true per tertile over all test
        predictions) and the per-unit means of each system.
    """
    summary: dict[str, Any] = {}
    units: dict[str, dict[str, np.ndarray]] = {}
    for system in SYSTEMS:
        per_seed = {"p_true": [], "human": []}
        u: dict[str, list[float]] = {"js_p_true": [], "bc_p_true": [], "js_human": [], "bc_human": []}
        by_tertile: list[np.ndarray] = []
        for run in sorted(result.selected_runs(system), key=lambda r: (r.fold, r.seed)):
            head = run.reported[0] if system == "amber2" else system.removeprefix("baseline_")
            pred, idx = np.asarray(run.heads[head].test_pred), np.asarray(run.test_idx)
            js_t, bc_t = _per_item(pred, p_true[idx])
            js_h, bc_h = _per_item(pred, y_human[idx])
            u["js_p_true"].append(float(js_t.mean()))
            u["bc_p_true"].append(float(bc_t.mean()))
            u["js_human"].append(float(js_h.mean()))
            u["bc_human"].append(float(bc_h.mean()))
            per_seed["p_true"].append((js_t, bc_t))
            per_seed["human"].append((js_h, bc_h))
            by_tertile.append(np.stack([js_t, tertile[idx].astype(np.float64)]))
        units[system] = {k: np.asarray(v) for k, v in u.items()}
        stack = np.concatenate(by_tertile, axis=1) if by_tertile else np.zeros((2, 0))
        summary[system] = {
            "p_true": {"js": _mean_sd(u["js_p_true"]), "bc": _mean_sd(u["bc_p_true"])},
            "human": {"js": _mean_sd(u["js_human"]), "bc": _mean_sd(u["bc_human"])},
            "tertiles_js_p_true": {name: float(stack[0][stack[1] == k].mean()) if (stack[1] == k).any() else None
                                   for k, name in enumerate(TERTILES)},
            "n_units": len(u["js_p_true"]),
        }
    return summary, units


def _mean_sd(v: Sequence[float]) -> dict[str, float | None]:
    a = np.asarray(v, dtype=np.float64)
    return {"mean": float(a.mean()) if a.size else None, "std": float(a.std(ddof=1)) if a.size > 1 else None}


def _model_tests(units: dict[tuple, dict[str, np.ndarray]], config: StudyConfig,
                 choices: Sequence[tuple[str, str, int | None]]) -> list[dict[str, Any]]:
    """Paired tests over (fold, seed) units: each choice against human targets, and DiME against none."""
    tests: list[dict[str, Any]] = []
    dimes = [False, True] if config.dime else [False]
    for source in config.sources:
        for dime in dimes:
            for system in SYSTEMS:
                base = units.get((source, "human", dime, system))
                if base is None:
                    continue
                for label, _, _ in choices[1:]:
                    mine = units.get((source, label, dime, system))
                    if mine is None:
                        continue
                    for metric in ("js_p_true", "js_human"):
                        tests.append({"source": source, "dime": dime, "system": system, "choice": label,
                                      "against": "human", "metric": metric, "unit": "fold x seed",
                                      **_wilcoxon(mine[metric], base[metric])})
    _adjust(tests)
    return tests


def _annotate_with_bundles(out: Path, prepared: Path, human: Any, n: int, config: StudyConfig,
                           progress: bool) -> dict[str, Any]:
    """Fold by fold: train AmbER² on the human targets of the other folds, annotate this fold with it.

    Every bundle is saved in ``out/bundles/fold<f>`` with the ids it was trained on (``trained_on.txt``)
    and the ids it annotated (``annotated.txt``); the votes go into the prepared corpus through
    :func:`amber2.workflow.annotate.annotate_prepared` (``amber2 annotate``'s job: the votes, then the
    prepared summary counted again; rater ids ``syn:bundle:<BUNDLE_MODEL>:<i>``).
    """
    from amber2.annotate import RunSettings
    from amber2.inference.annotator import BundleBackend
    from amber2.inference.bundle import save_bundle
    from amber2.training.config import LossConfig, ValidationConfig
    from amber2.training.fit import fit_model
    from amber2.workflow.annotate import annotate_prepared

    info: dict[str, Any] = {"model": BUNDLE_MODEL, "n": int(n), "folds": {}}
    ids = np.asarray(human.data.ids)
    loss = LossConfig(kind="amber2", lambda_mai=config.lambda_mai, kappa=config.kappa)
    optim = _train_config(config, False).optim
    for f in sorted(int(x) for x in np.unique(human.folds) if x >= 0):
        train = np.flatnonzero(human.folds != f)
        test = np.flatnonzero(human.folds == f)
        fit = fit_model(human.data.subset(train), optim=optim, loss=loss,
                        validation=ValidationConfig(strategy="group-fraction"), seed=int(config.seeds[0]))
        folder = out / "bundles" / f"fold{f}"
        save_bundle(folder, fit.model, classes=list(fit.classes), encoders=human.encoders, label_policy=human.policy,
                    objective=loss.model_dump(mode="json"), extra={"study_fold": f})
        atomic_write_text(folder / "trained_on.txt", "\n".join(ids[train]) + "\n")
        atomic_write_text(folder / "annotated.txt", "\n".join(ids[test]) + "\n")
        backend = BundleBackend(folder, name=BUNDLE_MODEL, seed=0)
        rep = annotate_prepared(prepared, backend, n=n, classes=list(human.data.classes), ids=list(ids[test]),
                              settings=RunSettings(max_in_flight=4, progress=progress))
        info["folds"][str(f)] = {"trained_on": int(train.size), "annotated": int(test.size), "votes": rep.votes,
                                 "failed_items": rep.failed_items}
        log.info("bundle fold %d: trained on %d items, %d votes on %d items", f, train.size, rep.votes, test.size)
    return info


def _proxies(prepared: Path, policy: Any, sources: Sequence[str], out: Path) -> dict[str, Any]:
    """``amber2 proxies`` on each source's votes: the JSON summary (files in ``out/<source>``)."""
    from amber2.corpora.table import CorpusTable
    from amber2.labels.proxies import analyse_proxies
    from amber2.report.proxies import write_proxies

    table = CorpusTable.read(prepared)
    res: dict[str, Any] = {}
    for source in sources:
        result = analyse_proxies(table, policy, source=SOURCES[source])
        write_proxies(result, out / source, figures=False)
        res[source] = {**result.to_dict(per_item=False), "folder": str(out / source)}
    return res


def load_study(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``annotator_study.json`` (checked by its schema name)."""
    from amber2.utils.io import read_json

    d = read_json(path)
    if not isinstance(d, dict) or d.get("schema") != "amber2.annotator_study/1":
        raise ValueError(f"{path} is not an annotator study result (schema amber2.annotator_study/1)")
    return d

