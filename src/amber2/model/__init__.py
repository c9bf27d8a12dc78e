"""amber2.model."""
