"""The bench's Faust floor phase (``--faust-floor``, streams.tools.bench.faust_floor) on a tiny stream.

Real parts: the embedded broker and one Faust child per variant, as the bench runs them. No speed is judged
(the machine is shared); only that every variant reads every message and reports a figure, that the figures
hang together as the table says, and that the output variants really produced one record per event.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from streams.tools.bench.faust_floor import CHAIN, OUTPUT_TOPIC, VARIANTS
from streams.tools.bench.run import Options, _create_inputs, _produce, faust_floor_phase
from streams.tools.bench.workload import mixed_stream
from streams.tools.broker import EmbeddedBroker

PARTITIONS = 2


async def _records_in(address: str, topic: str) -> int:
    """Read the topic whole (the records themselves: counted, not taken from the end offsets)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=[address], group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    count = 0
    try:
        while batches := await consumer.getmany(timeout_ms=2_000):
            count += sum(map(len, batches.values()))
    finally:
        await consumer.stop()
    return count


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_every_floor_variant_reads_the_stream_and_reports_its_cost(tmp_path: Path) -> None:
    stream = mixed_stream(1_500, 150)
    keyed = sum(1 for _, key, _ in stream if key)
    opts = Options(events=len(stream), customers=150, partitions=PARTITIONS, timeout=60.0)
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        asyncio.run(_create_inputs(broker.address, PARTITIONS))
        asyncio.run(_produce(broker.address, stream))
        common = {"BENCH_BROKER": broker.address, "BENCH_PARTITIONS": str(PARTITIONS)}
        floor = faust_floor_phase(broker.address, opts, tmp_path, common)
        produced = asyncio.run(_records_in(broker.address, OUTPUT_TOPIC))

    assert list(floor) == [variant.name for variant in CHAIN]
    for name, row in floor.items():
        assert isinstance(row["eps"], float) and row["eps"] > 0, name
        assert row["us_per_event"] == pytest.approx(1e6 / row["eps"])
        assert row["base"] == VARIANTS[name].base and row["base"] in floor
        assert row["ratio_bare"] == pytest.approx(row["eps"] / floor["bare"]["eps"])
        # What a variant adds is the difference of the two per-event costs (either sign: the machine is noisy).
        base = floor[row["base"]]
        assert row["us_per_event_added"] == pytest.approx(row["us_per_event"] - base["us_per_event"])
        assert row["cpu_utilisation"] > 0 and row["cpu_us_per_event"] > 0, name
        # The event loop the child really ran on (Faust ignores a --loop given after it is imported).
        if VARIANTS[name].batched:
            assert 1 <= row["mean_batch"] <= 1000, name  # take_events(1000, ...)
        assert row["loop"] == ("uvloop" if VARIANTS[name].loop == "uvloop" else "asyncio.unix_events"), name
    # The output variants each sent one record per keyed event; no other variant sends any.
    producing = [variant.name for variant in CHAIN if variant.produce]
    assert producing == ["state-256-produce", "state-2k-produce", "state-9k-produce"]
    assert produced == len(producing) * keyed
    for name in producing:
        assert floor[name]["produced_per_event"] == keyed / len(stream), name
    stateful = [variant.name for variant in CHAIN if variant.state_bytes]
    assert len(stateful) == 6
    for name in stateful:
        # One changelog record per customer a batch touched: at most one per event, at least one per customer.
        assert 150 / len(stream) <= floor[name]["state_writes_per_event"] <= 1, name
    # Each state variant kept its state in RocksDB under the child's data directory.
    for name in ("state-256", "state-2k", "state-9k"):
        assert list(tmp_path.glob(f"floor-{name}-data/*/tables/*floor-state-*.db")), name
