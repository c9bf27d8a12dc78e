"""Bad training settings given as overrides: a clear ValueError (pydantic's names the field), never a traceback.

Bounds on each setting and malformed YAML files are validated in training/config.py (their tests live
with it); this fuzz only checks that no override value escapes as another exception type.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from amber2.training.config import TrainConfig, load_config

KEYS = ["optim.lr", "optim.epochs", "protocol.seeds", "model.hidden", "loss.kappa", "data.split", "protocol.k",
        "nonexistent.key"]
VALUES = st.one_of(st.sampled_from(["abc", "[]", "[1,", "{a: 1}", "1e999", "-1", "0", "nan", "inf", "null", "''",
                                    "!!python/object:os.system ls", "[0, 1]", "3", "0.5"]),
                   st.text(max_size=12))


@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_override_values_never_escape_as_tracebacks(key, value):
    try:
        cfg = load_config(None, [f"{key}={value}"])
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        assert str(exc)
        return
    assert isinstance(cfg, TrainConfig)
