"""The demo's story generator (streams.tools.stories.StoryBook) producing customer stories in the background."""

from __future__ import annotations

import asyncio
import threading
import time

from aiokafka import AIOKafkaProducer

from streams.tools.stories import StoryBook
from streams.tools.topic_commands import publish_plans, read_plans_file


def publish_demo_plans(broker: str) -> None:
    """The demo's plan catalog, which the subscription stories use."""
    from streams.tools.demo import DEMO_CATALOG

    plans, problems = read_plans_file(DEMO_CATALOG)
    assert not problems, problems
    asyncio.run(publish_plans([broker], plans))


class StoryStream:
    """Produces a story every ``pause`` seconds until stopped; every story kind first, then the demo's mix."""

    def __init__(self, broker: str, customers: int = 12, pause: float = 0.2) -> None:
        self.broker, self.customers, self.pause = broker, customers, pause
        self.produced = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stories", daemon=True)

    def start(self) -> StoryStream:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> int:
        self._stop.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the story producer did not stop"
        if self.error is not None:
            raise self.error
        return self.produced

    def _run(self) -> None:
        try:
            asyncio.run(self._produce())
        except BaseException as exc:  # reported by stop()
            self.error = exc

    async def _produce(self) -> None:
        book = StoryBook(seed=11)
        opening = book.opening(bad_input=False)
        producer = AIOKafkaProducer(bootstrap_servers=[self.broker], linger_ms=2)
        await producer.start()
        try:
            step = 0
            while not self._stop.is_set():
                story = opening[step] if step < len(opening) else book.weighted()
                customer = f"c-{step % self.customers + 1:04d}"
                for topic, key, value in story(customer, int(time.time() * 1000)):
                    await producer.send_and_wait(topic, value=value, key=key)
                    self.produced += 1
                step += 1
                await asyncio.sleep(self.pause)
        finally:
            await producer.stop()
