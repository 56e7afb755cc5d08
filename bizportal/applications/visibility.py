"""Which steps, fields and checklist items a form shows for the answers so far.

Conditions are the spec's CEL `when`s, compiled once per published version and
evaluated on the server in form order, so pages show the right questions without
JavaScript and a hidden field reads as unanswered everywhere. Pure: no database,
no request.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ..workflow.expressions import CompiledExpression, ExpressionError, FormEnvironment
from ..workflow.spec import Document, FieldType, FormField, PermitSpec, Step

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shown:
    """The parts of a form shown for some answers, in form order.

    `answers` holds only the answers of shown fields (file fields as true/false):
    a hidden field reads as its type's zero value in every condition and fee, as
    docs/workflows.md promises, and is not sent with the application.
    """

    steps: tuple[Step, ...]
    fields: dict[str, tuple[FormField, ...]]
    documents: tuple[Document, ...]
    answers: dict[str, Any]

    def field_ids(self) -> set[str]:
        """Ids of every shown field."""
        return {item.id for fields in self.fields.values() for item in fields}

    def step_ids(self) -> list[str]:
        """Ids of the shown steps, in order."""
        return [step.id for step in self.steps]

    @property
    def uploads(self) -> tuple[Document, ...]:
        """Checklist items the applicant uploads (the rest an agency fetches itself)."""
        return tuple(document for document in self.documents if not document.issued_by_state)


class FormRules:
    """A form's conditions compiled once per published version."""

    def __init__(self, spec: PermitSpec) -> None:
        self.spec = spec
        self.fields = spec.fields()
        env = FormEnvironment.for_fields(self.fields)
        self._steps = {step.id: env.compile(step.when, "bool") for step in spec.form.steps if step.when}
        self._fields = {item.id: env.compile(item.when, "bool") for item in self.fields.values() if item.when}
        self._documents = {document.id: env.compile(document.when, "bool")
                           for document in spec.form.documents if document.when}
        self.steps = {step.id: step for step in spec.form.steps}
        self.file_fields = {item.document: item for item in self.fields.values() if item.type is FieldType.FILE}

    def shown(self, answers: Mapping[str, Any], attached: Collection[str] = ()) -> Shown:
        """What the form shows for `answers`, given the checklist items `attached` (have a file)."""
        effective: dict[str, Any] = {}
        steps: list[Step] = []
        fields: dict[str, tuple[FormField, ...]] = {}
        for step in self.spec.form.steps:
            if not _holds(self._steps.get(step.id), effective):
                continue
            shown_fields = []
            for item in step.fields:
                if not _holds(self._fields.get(item.id), effective):
                    continue
                shown_fields.append(item)
                if item.type is FieldType.FILE:
                    effective[item.id] = item.document in attached
                elif answers.get(item.id) is not None:
                    effective[item.id] = answers[item.id]
            if shown_fields:  # a step whose every question is hidden is not shown either
                steps.append(step)
                fields[step.id] = tuple(shown_fields)
        documents = tuple(document for document in self.spec.form.documents
                          if _holds(self._documents.get(document.id), effective))
        return Shown(tuple(steps), fields, documents, effective)

    def step(self, step_id: str) -> Step | None:
        """The step `step_id`, shown or not; None if the form has none."""
        return self.steps.get(step_id)


def _holds(condition: CompiledExpression | None, answers: Mapping[str, Any]) -> bool:
    if condition is None:
        return True
    try:
        return bool(condition.evaluate(answers))
    except (ExpressionError, ValueError, TypeError):
        # A condition that cannot be evaluated (e.g. a division by zero) shows the part: asking more is safe.
        logger.warning("condition failed; showing the part", extra={"condition": condition.source})
        return True
