"""Appending to the audit log and checking its hash chain.

`record` appends in the caller's transaction: if the change rolls back, so does its
entry. The chain head row is read `FOR UPDATE` (PostgreSQL) so concurrent appends
queue up; on SQLite the first write takes the database's single write lock, so an
append that read a stale head fails instead of forking the chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import GENESIS_HASH, AuditChainHead, AuditEntry

HEAD_ID = 1


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 of the entry's canonical JSON (sorted keys, UTC time, no spaces) including `prev_hash`."""
    content = {
        "at": entry.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor_id": entry.actor_id,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "reason": entry.reason,
        "data": entry.data,
        "prev_hash": entry.prev_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(session: Session, *, at: dt.datetime, actor_id: int | None, action: str, subject_type: str,
           subject_id: int | str, from_state: str | None = None, to_state: str | None = None,
           reason: str | None = None, data: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry chained to the last one, in the caller's transaction (flushed, not committed)."""
    head = session.scalars(select(AuditChainHead).where(AuditChainHead.id == HEAD_ID).with_for_update()).one()
    entry = AuditEntry(at=at, actor_id=actor_id, action=action, subject_type=subject_type,
                       subject_id=str(subject_id), from_state=from_state, to_state=to_state,
                       reason=reason or None, data=json.loads(json.dumps(data or {}, default=str)),
                       prev_hash=head.last_hash)
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    head.last_entry_id = entry.id
    head.last_hash = entry.hash
    session.flush()
    return entry


@dataclass(frozen=True)
class Verification:
    """The outcome of `verify`: how many entries were checked and the first bad one, if any."""

    checked: int
    broken_entry_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when every entry's hash and link are right."""
        return self.broken_entry_id is None


def _entries(session: Session, batch: int = 1000) -> Iterator[AuditEntry]:
    last_id = 0
    while True:
        rows = list(session.scalars(select(AuditEntry).where(AuditEntry.id > last_id)
                                    .order_by(AuditEntry.id).limit(batch)))
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def verify(session: Session) -> Verification:
    """Recompute the chain in id order; report the first entry whose hash or link does not hold."""
    previous = GENESIS_HASH
    checked = 0
    last_id: int | None = None
    for entry in _entries(session):
        if entry.prev_hash != previous:
            return Verification(checked, entry.id, "link")
        if entry_hash(entry) != entry.hash:
            return Verification(checked, entry.id, "hash")
        previous = entry.hash
        last_id = entry.id
        checked += 1
    head = session.get(AuditChainHead, HEAD_ID)
    if head is not None and (head.last_hash != previous or head.last_entry_id != last_id):
        return Verification(checked, head.last_entry_id or 0, "head")
    return Verification(checked)


def entries_for(session: Session, subject_type: str, subject_id: int | str) -> list[AuditEntry]:
    """The entries about one subject, oldest first."""
    return list(session.scalars(select(AuditEntry).where(AuditEntry.subject_type == subject_type,
                                                         AuditEntry.subject_id == str(subject_id))
                                .order_by(AuditEntry.id)))
