"""The `webhooks.deliver` job: POST one delivery, retried with backoff by the jobs system.

It is an exchange (`jobs.registry.Exchange`): the POST happens between two short
transactions, so a slow receiver holds no database lock.
"""

from __future__ import annotations

from ..jobs.registry import register_exchange
from .services import DELIVER_JOB, DeliveryExchange, record_failure

BACKOFF = (10, 60, 300, 1800, 7200)
"""10 s, 1 min, 5 min, 30 min, then every 2 h: a receiver down for a deploy catches up, one down for the day
fails and waits for an admin."""

register_exchange(DELIVER_JOB, DeliveryExchange(), queue="notifications", max_attempts=8, backoff=BACKOFF,
                  on_failure=record_failure)
