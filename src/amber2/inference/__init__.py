"""amber2.inference."""
