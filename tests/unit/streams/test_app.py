"""What create_app builds, read without a broker."""

from __future__ import annotations

import dataclasses

from faust.stores import memory, rocksdb

from models.policy import Policy
from streams.app import create_app
from streams.config import load_config
from streams.topics import Layout


def test_the_catalog_is_held_in_memory_where_customers_are_in_rocksdb() -> None:
    # The catalog is walked on many events; an empty store URL would silently fall back to the app's RocksDB.
    config = dataclasses.replace(load_config(), store="rocksdb")
    runtime = create_app(config, Policy(), Layout(config.topics, 3, [], 1))
    assert isinstance(runtime.plans.data, memory.Store)
    assert isinstance(runtime.customers.data, rocksdb.Store)
