"""amber2.training."""
