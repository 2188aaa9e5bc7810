"""Train a zstd dictionary for stored customer states (streams.state_record).

    python -m streams.tools.state_dictionary --id 0x46570002 [--out PATH]

The samples are the states the rules leave after generated worlds (the
bench's story mix, under seeds the bench does not use): a year of history for
some customers (50 events each) and a few months for many (10 each), so both
ends of a customer's life compress. A released dictionary is never rewritten:
train a new one under a new id, add its file, and point
``STATE_DICTIONARY_ID`` at it; the old file stays so old records still read.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

import orjson
import zstandard

from streams.processor import is_input_offsets_key
from streams.state_record import decode_state, dictionary_path
from streams.tools.bench.rules import run_rules
from streams.tools.bench.workload import mixed_stream

__all__ = ["sample_states", "train", "main"]

#: 16 KiB: 8 KiB gave 3 % more bytes, 32 KiB no fewer (measured on the bench's busy year).
DICTIONARY_BYTES = 16_384
#: (events, customers, seed) of the worlds sampled; the bench uses seeds 8 and 11.
WORLDS = ((20_000, 400, 3), (20_000, 2_000, 4))
#: A fixed clock, so the same worlds give the same samples.
END_MS = 1_790_000_000_000


def sample_states(worlds: Iterable[tuple[int, int, int]] = WORLDS) -> list[bytes]:
    """The uncompressed JSON of every customer's state after each world."""
    samples: list[bytes] = []
    for events, customers, seed in worlds:
        found = run_rules(
            mixed_stream(events, customers, seed=seed, end_ms=END_MS),
            keep_records=True,
            wall_clock=lambda: END_MS / 1000,
        )
        stored = found["records"].items()
        samples += [orjson.dumps(decode_state(record)) for key, record in stored if not is_input_offsets_key(key)]
    return samples


def train(samples: list[bytes], dictionary_id: int, size: int = DICTIONARY_BYTES) -> bytes:
    return zstandard.train_dictionary(size, samples, dict_id=dictionary_id).as_bytes()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m streams.tools.state_dictionary", description=__doc__)
    parser.add_argument("--id", required=True, type=lambda s: int(s, 0), help="the new dictionary's id")
    parser.add_argument("--out", type=Path, help="default: streams/data/state-<id>.zdict")
    args = parser.parse_args(argv)
    out = args.out or dictionary_path(args.id)
    if out.exists():
        parser.error(f"{out} exists: a released dictionary is never rewritten")
    samples = sample_states()
    out.write_bytes(train(samples, args.id))
    print(f"{out}: trained on {len(samples):,} states")


if __name__ == "__main__":
    main()
