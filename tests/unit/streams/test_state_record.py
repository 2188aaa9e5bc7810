"""The stored bytes of a customer's state (streams.state_record): zstd frames with a dictionary, older JSON read."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import zstandard

from models.state import STATE_VERSION, StateVersionError, marks, new_state
from streams import state_record
from streams.state_record import STATE_DICTIONARY_ID, decode_state, dictionary_path, encode_state
from streams.tools.state_dictionary import sample_states, train

MAGIC = b"\x28\xb5\x2f\xfd"
#: A format-1 record as those builds stored it: no ``v``, the seen digests as integers, the kind in each alert.
V1_RECORD = {
    "id": "c-1",
    "p": 3,
    "last": 1_767_225_600_000,
    "seen": [12_345_678_901_234_567, 8_137_986_367_825_531_241],
    "orders": {},
    "deadlines": {},
    "alerts": {"late-delivery-d955f2fdfeb253480a6c22f9": {"k": "promise.late_delivery", "r": 1, "o": True}},
}


@pytest.fixture(scope="module")
def busy_states() -> list[bytes]:
    """The JSON of 60 customers' states after a year of events each (50), from a world the dictionary never saw."""
    return sample_states(((3_000, 60, 21),))


def test_a_state_is_stored_as_a_frame_naming_the_dictionary_and_reads_back_equal(busy_states: list[bytes]) -> None:
    for document in busy_states:
        state = orjson.loads(document)
        stored = encode_state(state)
        assert stored[:4] == MAGIC
        assert zstandard.get_frame_parameters(stored).dict_id == STATE_DICTIONARY_ID
        assert decode_state(stored) == state


def test_a_year_of_history_stores_in_under_2_kib(busy_states: list[bytes]) -> None:
    # Issue 14, target 4 (the bench prints the figure; this guards the dictionary's shipping with the package).
    assert sum(len(document) for document in busy_states) / len(busy_states) > 6_000
    stored = [len(encode_state(orjson.loads(document))) for document in busy_states]
    assert sum(stored) / len(stored) <= 2_048


def test_uncompressed_json_of_earlier_builds_is_read() -> None:
    current = new_state("c-1", 3)
    assert decode_state(orjson.dumps(current)) == current
    upgraded = decode_state(orjson.dumps(V1_RECORD))
    assert upgraded["v"] == STATE_VERSION and len(marks(upgraded)) == 2
    assert "k" not in upgraded["alerts"]["late-delivery-d955f2fdfeb253480a6c22f9"]
    offsets = {"p": 1, "input_offsets": {"orders": 5}, "epoch": 2}
    assert decode_state(orjson.dumps(offsets)) == offsets
    assert decode_state(encode_state(offsets)) == offsets


def test_a_frame_without_a_dictionary_is_read() -> None:
    state = new_state("c-1", 3)
    assert decode_state(zstandard.ZstdCompressor().compress(orjson.dumps(state))) == state


def test_a_dictionary_this_build_does_not_have_stops_the_reader(busy_states: list[bytes]) -> None:
    newer = zstandard.ZstdCompressionDict(train(busy_states, 0x46570FFF, size=4_096))
    assert not dictionary_path(0x46570FFF).exists()
    stored = zstandard.ZstdCompressor(dict_data=newer).compress(busy_states[0])
    with pytest.raises(StateVersionError, match="dictionary 0x46570fff"):
        decode_state(stored)


def test_a_later_dictionary_is_found_by_its_id(
    busy_states: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # How a release adds a dictionary: a new file under a new id; records of the old one still read.
    monkeypatch.setattr(state_record, "_DATA", tmp_path)
    monkeypatch.setattr(state_record, "_decompressors", dict(state_record._decompressors))
    (tmp_path / "state-46570ffe.zdict").write_bytes(train(busy_states, 0x46570FFE, size=4_096))
    later = zstandard.ZstdCompressionDict((tmp_path / "state-46570ffe.zdict").read_bytes())
    stored = zstandard.ZstdCompressor(dict_data=later).compress(busy_states[1])
    assert decode_state(stored) == orjson.loads(busy_states[1])


def test_the_tool_trains_a_dictionary_that_compresses_unseen_customers() -> None:
    samples = sample_states(((4_000, 400, 31),))
    dictionary = zstandard.ZstdCompressionDict(train(samples, 0x46570FFD, size=8_192))
    unseen = sample_states(((1_000, 100, 32),))
    with_it = zstandard.ZstdCompressor(level=1, dict_data=dictionary)
    without = zstandard.ZstdCompressor(level=1)
    assert sum(map(len, map(with_it.compress, unseen))) < 0.7 * sum(map(len, map(without.compress, unseen)))
