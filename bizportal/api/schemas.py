"""Request and response bodies of the resource endpoints (applications, tasks, licences, businesses).

They are plain pydantic models: spectree turns them into the OpenAPI schemas and
validates requests against them, and the views build them from the services'
rows, so what a client reads is exactly what the document promises.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Closed(BaseModel):
    """A model that refuses unknown members, so a typo in a request is an error, not silence."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- businesses

class BusinessOut(BaseModel):
    """One of the current user's businesses."""

    id: int
    kind: str
    tax_id: str
    name_th: str
    name_en: str | None
    address: dict[str, str]
    phone: str
    email: str | None


class BusinessList(BaseModel):
    """The current user's businesses, by name."""

    items: list[BusinessOut]


# --------------------------------------------------------------------------- applications

class ApplicationCreate(Closed):
    """Open a draft for a permit type's current version, for one of my businesses."""

    permit_type: str = Field(min_length=1, max_length=63, description="The permit type's key, e.g. food_premises")
    business_id: int = Field(ge=1, le=2**31 - 1)


class ApplicationListQuery(Closed):
    """A page of my applications, newest first."""

    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=25, ge=1, le=100)


class ApplicationSummary(BaseModel):
    """An application as lists show it."""

    id: int
    reference: str | None
    status: str
    status_label: str
    permit_type: str
    permit_version: int
    permit_title: str
    business_id: int
    business_name: str
    current_step: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    submitted_at: dt.datetime | None
    expected_decision_on: dt.date | None


class ApplicationList(BaseModel):
    """A page of applications and the cursor of the next one (null on the last page)."""

    items: list[ApplicationSummary]
    next_cursor: str | None


class DocumentOut(BaseModel):
    """A checklist item the answers call for, and its file if one was uploaded."""

    document_id: str
    title: str
    required: bool
    fetched_by_office: bool
    accepts: str
    max_size_mb: float
    uploaded: bool
    filename: str | None = None
    content_type: str | None = None
    size: int | None = None
    sha256: str | None = None
    uploaded_at: dt.datetime | None = None


class StageOut(BaseModel):
    """One stage of the route that has reached an agency: its task's status, agency and due date."""

    task_id: int
    stage_id: str
    title: str
    agency_id: str
    agency_name: str
    status: str
    status_label: str
    due_on: dt.date
    overdue: bool
    outcome: str | None
    closed_at: dt.datetime | None


class TimelineEntryOut(BaseModel):
    """One line of the timeline, as the application page shows it."""

    at: dt.datetime
    kind: str
    text: str
    note: str | None
    details: list[str]


class MissingItem(BaseModel):
    """Something to put right before submitting: a field (`/answers/<id>`) or a document (`/documents/<id>`)."""

    path: str = Field(description="JSON Pointer: /answers/<field id> or /documents/<document id>")
    message: str
    step_id: str | None = None


class FeeOut(BaseModel):
    """A fee assessed on submission."""

    fee_id: str
    label: str
    amount: float
    payable: str


class CorrectionOut(BaseModel):
    """What an officer asked the applicant to correct or provide."""

    kind: str
    agency_id: str | None
    note: str | None
    fields: list[str]
    documents: list[str]


class ApplicationOut(ApplicationSummary):
    """One application with its answers, documents, stages and timeline."""

    steps: list[str] = Field(description="The steps the form shows for the answers so far, in order")
    answers: dict[str, Any]
    pending_fields: list[str] = Field(description="Fields whose last input was refused and needs correcting")
    missing: list[MissingItem] = Field(description="What stops the application from being submitted")
    documents: list[DocumentOut]
    stages: list[StageOut]
    timeline: list[TimelineEntryOut]
    fees: list[FeeOut]
    correction: CorrectionOut | None
    licence_id: int | None


class StepAnswers(Closed):
    """Answers to one step, by field id: JSON values as the permit type's form schema describes them."""

    answers: dict[str, Any] = Field(default_factory=dict)


class StepResult(BaseModel):
    """What saving a step did, and where to go next."""

    application_id: int
    step_id: str
    saved: list[str] = Field(description="The field ids that were read from the request")
    appeared: list[str] = Field(description="Questions the new answers brought onto this step: answer them too")
    next_step: str | None = Field(description="The following step, or null after the last one (then submit)")
    missing: list[MissingItem]


class UploadForm(BaseModel):
    """A multipart/form-data body with the file in the field `file`."""

    file: Any = Field(json_schema_extra={"type": "string", "format": "binary"},
                      description="The document: PDF, JPEG or PNG as the checklist item accepts")


class WithdrawRequest(Closed):
    """Why the application is withdrawn (optional)."""

    reason: str = Field(default="", max_length=2000)


# --------------------------------------------------------------------------- tasks

class TaskStatusFilter(StrEnum):
    """Queue filter by task status; `all` lists every status."""

    OPEN = "open"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"
    ALL = "all"


class TaskListQuery(Closed):
    """The queue's filters, as on the officers' queue page."""

    status: TaskStatusFilter = TaskStatusFilter.OPEN
    permit_type: str | None = Field(default=None, max_length=63)
    mine: bool = False
    unassigned: bool = False
    overdue: bool = False
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=25, ge=1, le=100)


class TaskSummary(BaseModel):
    """One line of the agency's queue."""

    id: int
    application_id: int
    reference: str
    permit_type: str
    permit_title: str
    business_name: str
    stage_id: str
    stage_title: str
    agency_id: str
    submitted_at: dt.datetime | None
    due_on: dt.date
    working_days_left: int | None
    overdue: bool
    status: str
    status_label: str
    assignee_name: str | None
    mine: bool


class TaskList(BaseModel):
    """A page of the queue by due date, and the cursor of the next one (null on the last page)."""

    items: list[TaskSummary]
    next_cursor: str | None


class TaskOut(BaseModel):
    """A task with the application it is about; its ETag is the version a decision must match."""

    id: int
    version: int
    application_id: int
    stage_id: str
    stage_title: str
    agency_id: str
    agency_name: str
    status: str
    status_label: str
    due_on: dt.date
    overdue: bool
    working_days_left: int | None
    assignee_id: int | None
    assignee_name: str | None
    outcome: str | None
    actions: list[str] = Field(description="The decisions this stage allows now")
    application: ApplicationOut


class DecisionAction(StrEnum):
    """What an officer decides; `return` is short for `return_for_correction`."""

    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"
    RETURN_FOR_CORRECTION = "return_for_correction"
    REQUEST_INFORMATION = "request_information"


class DecisionRequest(Closed):
    """A decision on the version of the task named by `If-Match`."""

    action: DecisionAction
    reason: str = Field(default="", max_length=5000, description="Required for a rejection; shown to the applicant")
    fields: list[str] = Field(default_factory=list, max_length=200,
                              description="For a return or request: the answers to correct")
    documents: list[str] = Field(default_factory=list, max_length=200,
                                 description="For a return or request: the documents to provide")


class DecisionResult(BaseModel):
    """The task after the decision, and where the application now stands."""

    task_id: int
    task_status: str
    outcome: str | None
    application_id: int
    application_status: str
    licence_id: int | None


# --------------------------------------------------------------------------- licences

class LicenceOut(BaseModel):
    """A licence, to its holder or an officer of the issuing agency (or one with a task on it)."""

    id: int
    number: str
    status: str
    status_label: str
    permit_type: str
    permit_title: str
    application_id: int
    agency_id: str
    holder_name: str
    business_name_th: str
    business_name_en: str | None
    premises_address: str | None
    valid_from: dt.date
    valid_until: dt.date | None
    issued_at: dt.datetime | None
    pdf_ready: bool


class LicenceVerification(BaseModel):
    """What anyone may learn about a licence number: the /verify page's data, nothing more."""

    number: str
    status: str
    status_label: str
    permit_title: str
    business_name: str
    valid_from: dt.date
    valid_until: dt.date | None
