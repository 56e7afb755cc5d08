"""Licence numbers: per permit type and Buddhist-Era year, gap-free and never repeated.

The counter row of (permit type, year) is created if missing (an insert that ignores
a conflict, so two first issuers cannot both create it), then locked `FOR UPDATE`
and incremented in the approving transaction. PostgreSQL makes a concurrent issuer
wait on the row lock; SQLite serialises writers with `BEGIN IMMEDIATE`. A
transaction that rolls back takes its increment with it, so no number is skipped.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .models import LicenceCounter

_PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::(0[1-9]))?\}")


def next_sequence(session: Session, permit_type_id: int, year_be: int) -> int:
    """Take the next number of `permit_type_id` in `year_be`, locking its counter until the commit."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(LicenceCounter).values(permit_type_id=permit_type_id, year_be=year_be,
                                                            last_seq=0)
                    .on_conflict_do_nothing(index_elements=["permit_type_id", "year_be"]))
    counter = session.scalars(
        select(LicenceCounter).where(LicenceCounter.permit_type_id == permit_type_id,
                                     LicenceCounter.year_be == year_be)
        .with_for_update().execution_options(populate_existing=True)).one()
    counter.last_seq += 1
    session.flush()
    return counter.last_seq


def format_number(number_format: str, *, seq: int, year_be: int, year: int, permit_code: str,
                  agency_code: str) -> str:
    """The number as the permit's YAML spells it, e.g. "{permit_code}-{seq:05}/{year_be}" -> "FOOD-00042/2569".

    The placeholders were checked by the spec's validator; `{seq:05}` pads to 5 digits.
    """
    values: dict[str, str | int] = {"seq": seq, "year_be": year_be, "year": year, "permit_code": permit_code,
                                    "agency_code": agency_code}

    def replace(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        width = match.group(2)
        return f"{value:0{int(width)}d}" if width and isinstance(value, int) else str(value)

    return _PLACEHOLDER.sub(replace, number_format)
