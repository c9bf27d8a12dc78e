"""amber2.demo."""
