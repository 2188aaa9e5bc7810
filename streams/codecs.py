"""The orjson codec for table values: state is plain JSON-able data, so no model round trip."""

from __future__ import annotations

from typing import Any

import orjson
from faust.serializers import codecs

__all__ = ["OrjsonCodec", "LenientOrjsonCodec", "register"]


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


def register() -> None:
    codecs.register("orjson", OrjsonCodec())
    codecs.register("orjson-lenient", LenientOrjsonCodec())
