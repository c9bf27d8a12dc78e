"""amber2.report."""
