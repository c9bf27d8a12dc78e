"""amber2.workflow: whole jobs built from the pipeline's stages, the layer the CLI calls.

* :mod:`amber2.workflow.prepare`: read a corpus, apply a label policy, make folds, write the summary
  (``amber2 prepare``; ``amber2.prepare_corpus``).
* :mod:`amber2.workflow.annotate`: synthetic votes for a prepared corpus, then its summary counted again
  and its checksums kept (``amber2 annotate``; ``amber2.annotate_prepared``).
* :mod:`amber2.workflow.run`: the protocol, the run directory with the paper's tables, the final model
  as an inference bundle (``amber2 train``; ``amber2.train_from_config``, ``amber2.write_run``).
* :mod:`amber2.workflow.demo`: the study end to end on the simulated corpus (``amber2 demo``;
  ``amber2.run_demo``).

The stages below never import this package, not even lazily (the contract in ``.importlinter``;
``docs/architecture.md``).
"""
