"""Small shared helpers: atomic I/O, fingerprints, logging and progress bars."""
