"""amber2.labels."""
