"""amber2.demo: the simulated multi-rater corpus and the end-to-end demo (``amber2 demo``)."""

from __future__ import annotations

from amber2.demo.synth import SimulatedCorpus, SimulationConfig, generate_corpus, plan_corpus

__all__ = ["SimulatedCorpus", "SimulationConfig", "generate_corpus", "plan_corpus"]
