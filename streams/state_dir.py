"""The local table store after an unclean stop: wiped, and rebuilt from the changelog.

The RocksDB store is written before the batch's changelog records are
delivered, so after ``kill -9`` (or a batch that failed, which exits at once)
the local copy can hold states the changelog never got. Kafka Streams wipes its
local state after an unclean stop under exactly-once for the same reason. A
clean stop leaves a marker; a start that finds table data without it wipes the
tables and restores them from the changelog, which is the truth.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

__all__ = ["mark_clean", "wipe_if_unclean", "CLEAN_MARKER"]

log = logging.getLogger("fairwatch")

CLEAN_MARKER = ".fairwatch-clean-stop"


def wipe_if_unclean(data_dir: Path, table_dir: Path) -> bool:
    """Wipe ``table_dir`` unless the last stop was clean; True if it was wiped. Either way, the marker goes:
    the worker now running has not stopped cleanly yet."""
    marker = Path(data_dir) / CLEAN_MARKER
    table_dir = Path(table_dir)
    clean = marker.exists()
    marker.unlink(missing_ok=True)
    if clean or not table_dir.exists() or not any(table_dir.iterdir()):
        return False
    log.warning(
        "fairwatch: the last stop was not clean: local table data in %s wiped; restoring it from the changelog",
        table_dir,
    )
    shutil.rmtree(table_dir)
    return True


def mark_clean(data_dir: Path) -> None:
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    (Path(data_dir) / CLEAN_MARKER).touch()
