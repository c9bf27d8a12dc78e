"""amber2.metrics."""
