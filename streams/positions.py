"""Where a newly assigned input partition resumes: the one decision about positions, made at assignment.

The customer table's input-offsets record (written to the changelog after the
states it covers) is the authority on what was handled; the group's committed
offset only trails it (it is committed after the changelog is delivered). So:

- nothing recorded: the consumer's own position stands (the commit, or the log start);
- the log start is past the record (retention or DeleteRecords removed messages
  never handled): resume from the log start, and say so;
- the commit is past the record (a commit made over messages never handled):
  seek back to the record;
- otherwise the commit stands: what lies between it and the record comes again
  and is recognised as redelivered, at the cost of a re-read. Seeking forward
  instead would leave Faust's acked-offset tracking a hole at its head that it
  never commits past.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Resume", "resume_position"]


@dataclass(frozen=True, slots=True)
class Resume:
    action: Literal["stay", "seek_back", "log_start"]
    offset: int | None = None


def resume_position(recorded: int | None, committed: int | None, log_start: int | None) -> Resume:
    """Decide where a partition resumes from the table's record, the group's commit and the log start."""
    if recorded is None:
        return Resume("stay")
    if log_start is not None and log_start > recorded:
        return Resume("log_start", log_start)
    if committed is not None and committed > recorded:
        return Resume("seek_back", recorded)
    return Resume("stay")
