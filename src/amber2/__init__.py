"""amber2: AmbER², dual (rater + modality) ambiguity-aware emotion recognition from speech and text.

The public API is re-exported here; heavy modules (torch, transformers) load on first use.
"""

from __future__ import annotations

from amber2._version import __version__

__all__ = ["__version__"]
