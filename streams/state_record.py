"""The bytes of a stored customer state: the models.state document as JSON, compressed with a trained dictionary.

A customer's record is read and written at nearly every event, and kept in
RocksDB and in the changelog topic; at a year of history (50 events) its JSON is
about 8.7 KB, most of it the same field names, kinds and plan names in every
customer's record. So it is stored as a zstd frame (level 1) made with a
dictionary trained on such records: about 1.9 KB then (0.46 KB at 10 events),
for about 24 us to compress and 8 us to decompress on this project's bench
machine (``make bench`` prints what it costs the pipeline).

- A record that starts with zstd's magic number (``28 B5 2F FD``) names its
  dictionary in the frame header; dictionaries live in ``streams/data`` as
  ``state-<id>.zdict`` and are never changed once released, only added, so every
  build reads what any earlier one wrote. A frame naming a dictionary this build
  does not have raises StateVersionError (a newer build wrote it).
- A record that starts with ``{`` is uncompressed JSON, as every build before
  2026-12-07 wrote it (formats 1 and 2): read as it is, so a rolling upgrade
  over an existing changelog works. This build writes frames only.
- Input-offsets records share the table and the encoding.

The dictionary was trained by ``python -m streams.tools.state_dictionary`` on
the states of generated worlds; ids in a company's own format (UUID event ids,
say) compress less (2.8 KB at 50 events when every event id is a UUID).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import orjson
import zstandard

from models.state import StateVersionError, upgrade_state

__all__ = [
    "encode_state",
    "decode_state",
    "stored_bytes",
    "SetAside",
    "STATE_DICTIONARY_ID",
    "LEVEL",
    "dictionary_path",
]

#: The dictionary this build compresses with (``streams/data/state-<id>.zdict``).
STATE_DICTIONARY_ID = 0x46570001
#: zstd's level 1: level 3 saved 2 % more bytes for about 40 % more time.
LEVEL = 1
_DATA = Path(__file__).resolve().parent / "data"
_MAGIC = b"\x28\xb5\x2f\xfd"


def dictionary_path(dictionary_id: int) -> Path:
    return _DATA / f"state-{dictionary_id:08x}.zdict"


def _load(dictionary_id: int) -> zstandard.ZstdCompressionDict | None:
    path = dictionary_path(dictionary_id)
    if not path.is_file():
        return None
    return zstandard.ZstdCompressionDict(path.read_bytes(), dict_type=zstandard.DICT_TYPE_FULLDICT)


_current = _load(STATE_DICTIONARY_ID)
if _current is None:  # pragma: no cover - a broken install
    raise RuntimeError(f"fairwatch: the state dictionary {dictionary_path(STATE_DICTIONARY_ID)} is missing")
_current.precompute_compress(level=LEVEL)
# No checksum: RocksDB and Kafka check their own blocks and batches (CRC32C), and it would cost 4 bytes a record.
_compress = zstandard.ZstdCompressor(level=LEVEL, dict_data=_current, write_checksum=False).compress
_decompressors: dict[int, Any] = {STATE_DICTIONARY_ID: zstandard.ZstdDecompressor(dict_data=_current).decompress}
_dumps = orjson.dumps
_loads = orjson.loads


class SetAside(NamedTuple):
    """A customer's written state held in its stored bytes until the checkpoint writes it (streams.processor's
    ``hold_decoded``): what a batch holds of a customer costs the record's size, not the decoded state's."""

    partition: int
    record: bytes  # encode_state's


def encode_state(state: Any) -> bytes:
    """A state (or input-offsets record) as it is stored."""
    # Copied to its length: zstandard's output keeps the whole compression bound (the JSON's size) allocated.
    return memoryview(_compress(_dumps(state))).tobytes()


def stored_bytes(value: Any) -> bytes:
    """What a checkpoint stores for a written state: a set-aside state's bytes as they are, else encoded."""
    return value.record if type(value) is SetAside else encode_state(value)


def decode_state(raw: bytes) -> Any:
    """A stored record as this build holds state (models.state.upgrade_state applied)."""
    if raw[:4] == _MAGIC:
        dictionary_id = zstandard.get_frame_parameters(raw).dict_id
        decompress = _decompressors.get(dictionary_id)
        if decompress is None:
            decompress = _decompressor(dictionary_id)
        return upgrade_state(_loads(decompress(raw)))
    return upgrade_state(_loads(raw))


def _decompressor(dictionary_id: int) -> Any:
    if not dictionary_id:
        return zstandard.ZstdDecompressor().decompress
    found = _load(dictionary_id)
    if found is None:
        raise StateVersionError(
            f"customer state compressed with dictionary {dictionary_id:#x}, which this fairwatch does not have "
            "(a newer build wrote it): run the newer version, or reset the changelog"
        )
    decompress = zstandard.ZstdDecompressor(dict_data=found).decompress
    _decompressors[dictionary_id] = decompress
    return decompress
