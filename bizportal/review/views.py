"""The officer queue and the task page: thin views over `queries` and `services`.

Officers see their own agency's tasks, admins all of them; another agency's task
answers 404. Decisions post the task's version; a stale one gets the 409 page.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..accounts.access import current_user, role_required
from ..accounts.models import Role
from ..database import transactional
from ..errors import InvalidTransition
from ..extensions import db
from ..i18n import current_locale, gettext
from ..workflow.calendar import local_date
from ..workflow.spec import Action
from . import queries, services
from .forms import ACTION_LABELS, ACTIVITY_LABELS, AssignForm, DecisionForm, TaskActionForm
from .models import TASK_STATUS_LABELS, TaskStatus

blueprint = Blueprint("review", __name__, url_prefix="/review")
officers_only = role_required(Role.OFFICER, Role.ADMIN)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _filters() -> queries.QueueFilters:
    status_value = request.args.get("status", TaskStatus.OPEN.value)
    status = TaskStatus(status_value) if status_value in set(TaskStatus) else None
    return queries.QueueFilters(permit_key=request.args.get("permit") or None, status=status,
                                mine=request.args.get("mine") == "1", unassigned=request.args.get("unassigned") == "1",
                                overdue=request.args.get("overdue") == "1")


@blueprint.get("/")
@officers_only
def queue() -> str:
    """The agency's tasks by due date, one keyset page at a time."""
    session = db.session()
    filters = _filters()
    page = queries.queue_page(session, current_user(), filters, queries.decode_cursor(request.args.get("after")),
                              local_date(_now()), current_locale())
    arguments = {key: value for key, value in request.args.items() if key != "after"}
    return render_template("review/queue.html", page=page, filters=filters, arguments=arguments,
                           permit_keys=queries.permit_keys(session), statuses=list(TaskStatus),
                           status_labels=TASK_STATUS_LABELS,
                           form=TaskActionForm())


@blueprint.get("/tasks/<int:task_id>")
@officers_only
def task(task_id: int) -> str:
    """A task: the application's answers, documents, the other agencies' decisions, the timeline, the actions."""
    page = queries.task_page(db.session(), task_id, current_user(), local_date(_now()), current_locale())
    form = DecisionForm(version_id=page.task.version_id)
    assign_form = AssignForm(assignee_id=page.task.assignee_id)
    assign_form.assignee_id.choices = [(colleague.id, colleague.name) for colleague in page.colleagues]
    return render_template("review/task.html", page=page, form=form, action_form=TaskActionForm(),
                           assign_form=assign_form, action_labels=ACTION_LABELS, activity_labels=ACTIVITY_LABELS)


@blueprint.post("/tasks/<int:task_id>/claim")
@officers_only
@transactional
def claim(task_id: int) -> Response:
    """Take the task, so colleagues see who works on it."""
    if TaskActionForm().validate_on_submit():
        services.claim(db.session(), task_id, current_user(), _now())
        flash(gettext("You claimed this task."), "success")
    return redirect(url_for(".task", task_id=task_id))


@blueprint.post("/tasks/<int:task_id>/release")
@officers_only
@transactional
def release(task_id: int) -> Response:
    """Give the task back to the agency's queue."""
    if TaskActionForm().validate_on_submit():
        services.release(db.session(), task_id, current_user(), _now())
        flash(gettext("The task is back in the queue."), "success")
    return redirect(url_for(".task", task_id=task_id))


@blueprint.post("/tasks/<int:task_id>/assign")
@officers_only
@transactional
def assign(task_id: int) -> Response:
    """Hand the task to a colleague of its agency (admins and the agency's leads)."""
    raw = request.form.get("assignee_id", "")
    if not raw.isdigit():  # CSRFProtect has already checked the token
        raise InvalidTransition(gettext("Choose an officer to assign the task to."))
    task = services.assign(db.session(), task_id, current_user(), int(raw), _now())
    assert task.assignee is not None
    flash(gettext("The task is now assigned to %(name)s.", name=task.assignee.name), "success")
    return redirect(url_for(".task", task_id=task_id))


@blueprint.post("/tasks/<int:task_id>/decide")
@officers_only
@transactional
def decide(task_id: int) -> Response:
    """Record a decision made on the version of the task the officer saw."""
    form = DecisionForm()
    if not form.validate_on_submit() or form.version_id.data is None or form.action.data is None:
        raise InvalidTransition(gettext("The decision form was incomplete. Open the task and try again."))
    services.decide(db.session(), task_id, current_user(), Action(form.action.data), form.version_id.data, _now(),
                    note=form.note.data or "", fields=request.form.getlist("fields"),
                    documents=request.form.getlist("documents"))
    flash(gettext("Your decision was recorded."), "success")
    return redirect(url_for(".queue"))
