import pytest

from amber2.corpora.raters import SYNTHETIC_KIND, is_synthetic_kind, parse_synthetic_rater, synthetic_rater_id


def test_round_trip_with_colons_and_slashes_in_model():
    rid = synthetic_rater_id("openai", "Qwen/Qwen2-Audio-7B:instruct", 12)
    assert rid == "syn:openai:Qwen/Qwen2-Audio-7B:instruct:12"
    parsed = parse_synthetic_rater(rid)
    assert (parsed.backend, parsed.model, parsed.index) == ("openai", "Qwen/Qwen2-Audio-7B:instruct", 12)
    assert parsed.source == "openai:Qwen/Qwen2-Audio-7B:instruct"
    assert is_synthetic_kind(SYNTHETIC_KIND) and not is_synthetic_kind("external")


@pytest.mark.parametrize("bad", ["rater1", "syn:openai", "syn:openai:model:x", "syn::m:1", "syn:b::1"])
def test_malformed_ids_are_refused(bad):
    with pytest.raises(ValueError, match="synthetic rater"):
        parse_synthetic_rater(bad)


@pytest.mark.parametrize(("backend", "model", "index"), [("", "m", 0), ("a:b", "m", 0), ("b", "", 0), ("b", "m", -1)])
def test_bad_parts_are_refused(backend, model, index):
    with pytest.raises(ValueError):
        synthetic_rater_id(backend, model, index)
