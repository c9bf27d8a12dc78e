"""amber2.serve."""
