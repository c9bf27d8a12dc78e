"""amber2.report: the paper's tables, plots and the Markdown report of a run."""
