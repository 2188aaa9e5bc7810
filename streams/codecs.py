"""The orjson codecs for table values: state is plain JSON-able data, so no model round trip."""

from __future__ import annotations

from typing import Any

import orjson
from faust.serializers import codecs

from streams.state_record import decode_state, encode_state

__all__ = ["OrjsonCodec", "LenientOrjsonCodec", "StateCodec", "STATE_CODEC", "register"]

#: The customer table's value codec (its changelog's too).
STATE_CODEC = "fairwatch-state"


class OrjsonCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


class LenientOrjsonCodec(OrjsonCodec):
    """orjson for records written by others (the plans topic): bytes that are not JSON decode to themselves.

    Faust raises on a value it cannot decode, and on a table's changelog that
    stops recovery; the record is left for models.catalog to reject instead.
    """

    def _loads(self, s: bytes) -> Any:
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError:
            return bytes(s)


class StateCodec(codecs.Codec):
    """A customer's state as stored (streams.state_record): older formats are read into this build's on the way
    in.

    So a changelog written by the previous release restores as it is, and each
    customer is written back in the new format at their next change.
    """

    def _dumps(self, obj: Any) -> bytes:
        return encode_state(obj)

    def _loads(self, s: bytes) -> Any:
        return decode_state(s)


def register() -> None:
    codecs.register("orjson", OrjsonCodec())
    codecs.register("orjson-lenient", LenientOrjsonCodec())
    codecs.register(STATE_CODEC, StateCodec())
