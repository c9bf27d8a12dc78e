"""amber2.corpora."""
