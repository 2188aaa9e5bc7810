"""A baseline's figures appear to the bench whole: never as an empty or half-written file."""

from __future__ import annotations

from pathlib import Path

import orjson

from streams.tools.bench.result import publish


def test_the_file_appears_only_with_its_whole_document(tmp_path: Path, monkeypatch) -> None:
    result = tmp_path / "floor-bare.json"
    seen_while_writing: list[bytes | None] = []

    def slow_write(self: Path, data: bytes) -> int:
        # Write in two steps and look at the target in between, as the bench's poll might.
        with self.open("wb") as out:
            out.write(data[:3])
            out.flush()
            seen_while_writing.append(result.read_bytes() if result.exists() else None)
            out.write(data[3:])
        return len(data)

    monkeypatch.setattr(Path, "write_bytes", slow_write)
    publish(result, {"first": 1.0, "last": 2.5, "count": 1500})

    assert seen_while_writing == [None]
    assert orjson.loads(result.read_bytes()) == {"first": 1.0, "last": 2.5, "count": 1500}
    assert [p.name for p in tmp_path.iterdir()] == ["floor-bare.json"]
