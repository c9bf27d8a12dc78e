"""amber2.encoders."""
