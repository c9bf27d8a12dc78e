"""Pinned fingerprints of the presets: run directories record them, so a refactor must not move them."""

from __future__ import annotations

import pytest

from amber2.labels import get_policy

PINNED = {
    "eq1": "34cc046bc2a4ea6e3757f1011c413eae4c276b897b1a04c9bf69041e3fd14dc6",
    "iemocap-4class": "7c870c2a218b80d9cd90527619adb0a8b6fdee07df47201b986191704d504559",
    "iemocap-emo-superb": "1012e53d62678c8a76903db4f5b5dddaab33494078d33c7ce7cd4e0cb623ebce",
    "iemocap-aer-llm": "4b8f45248e58dd89505288ff89f8076e7d470a64fac0fc29b9d0fbd28daf4b59",
    "msp-podcast-8class-all-inclusive": "251195224e3520ab6a9921afb447c9bbd85479a61899e830708929d51b7ba3cc",
    "crema-d-voice": "07bd81af27de99b12cd82c72d96e9a90287c0d7b3c300fbbe1ef8ec6339ebb0f",
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_preset_fingerprint_is_pinned(name: str) -> None:
    assert get_policy(name).fingerprint() == PINNED[name]
