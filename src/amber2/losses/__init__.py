"""amber2.losses."""
