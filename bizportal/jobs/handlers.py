"""The modules whose import registers job handlers. Add a line when a package gains jobs."""

from __future__ import annotations

from ..accounts import mail  # noqa: F401
from ..licences import jobs as licence_jobs  # noqa: F401
from ..webhooks import jobs as webhook_jobs  # noqa: F401
from . import builtin  # noqa: F401
