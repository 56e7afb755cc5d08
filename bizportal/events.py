"""Domain events: what happened to an application or a licence, told to whoever listens.

The services send them INSIDE their transaction with the session and a small JSON-able
payload (ids, reference or number, permit type, agencies, stage, decision, time). A
receiver writes in that same transaction (webhook deliveries today; e-mail and in-app
notices later), so a rolled-back change tells nobody. Receivers must not commit and
must not call out to the network: they write rows, and jobs do the rest after commit.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from blinker import Namespace

if TYPE_CHECKING:
    from .applications.models import Application
    from .licences.models import Licence

_signals = Namespace()

application_submitted = _signals.signal("application_submitted")
stage_decided = _signals.signal("stage_decided")
returned_for_correction = _signals.signal("returned_for_correction")
licence_issued = _signals.signal("licence_issued")
licence_suspended = _signals.signal("licence_suspended")
licence_revoked = _signals.signal("licence_revoked")
licence_reinstated = _signals.signal("licence_reinstated")

EVENT_TYPES: tuple[str, ...] = ("application_submitted", "stage_decided", "returned_for_correction",
                                "licence_issued", "licence_suspended", "licence_revoked", "licence_reinstated")
"""Every event name, in the order the admin pages list them."""

ALL = tuple(_signals.signal(name) for name in EVENT_TYPES)


def signal(name: str) -> Any:
    """The signal called `name` (`KeyError` for a name not in `EVENT_TYPES`)."""
    if name not in EVENT_TYPES:
        raise KeyError(name)
    return _signals.signal(name)


def about_application(application: Application, now: dt.datetime, **extra: Any) -> dict[str, Any]:
    """The payload of an application event: ids, reference, permit type and the agencies of its route."""
    from .applications.services import compiled  # the services import this module: no cycle at import time

    bundle = compiled(application.permit_version)
    agencies = dict.fromkeys([bundle.spec.permit.issuing_agency,
                              *(stage.agency for stage in bundle.workflow.route.stages())])
    stage_id = extra.get("stage_id")
    if stage_id is not None and "agency_id" not in extra:
        extra["agency_id"] = bundle.workflow.route.stage(stage_id).agency
    return {"application_id": application.id, "reference": application.reference,
            "permit_type": application.permit_version.permit_type.key,
            "status": application.status.value, "agency_ids": list(agencies), **extra,
            "occurred_at": now.isoformat()}


def about_licence(licence: Licence, now: dt.datetime, **extra: Any) -> dict[str, Any]:
    """The payload of a licence event: ids, number, status, permit type and the issuing agency."""
    return {"licence_id": licence.id, "number": licence.number, "application_id": licence.application_id,
            "permit_type": licence.application.permit_version.permit_type.key, "status": licence.status.value,
            "agency_id": licence.agency_id, "agency_ids": [licence.agency_id], **extra,
            "occurred_at": now.isoformat()}
