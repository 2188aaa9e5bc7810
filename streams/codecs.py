"""The orjson codec for table values: state is plain JSON-able data, so no model round trip."""

from __future__ import annotations

from typing import Any

import orjson
from faust.serializers import codecs

__all__ = ["OrjsonCodec", "register"]


class OrjsonCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


def register() -> None:
    codecs.register("orjson", OrjsonCodec())
