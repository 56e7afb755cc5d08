"""Review: one task row per stage of an application waiting on an agency.

Revision ID: 9f6c2a5b8d64
Revises: 8e5b1f4a7c53
Create Date: 2026-11-26 14:10:00
"""

import sqlalchemy as sa
from alembic import op

import bizportal.database

revision = "9f6c2a5b8d64"
down_revision = "8e5b1f4a7c53"
branch_labels = None
depends_on = None

STATUSES = ("open", "paused", "done", "cancelled")


def upgrade() -> None:
    op.create_table(
        "review_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.String(length=63), nullable=False),
        sa.Column("agency_id", sa.String(length=63), nullable=False),
        sa.Column("status", sa.Enum(*STATUSES, name="taskstatus", native_enum=False, length=9), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("opened_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.Column("closed_at", bizportal.database.UtcDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"], ondelete="CASCADE",
                                name=op.f("fk_review_tasks_application_id_applications")),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_review_tasks_agency_id_agencies")),
        sa.ForeignKeyConstraint(["assignee_id"], ["users.id"], name=op.f("fk_review_tasks_assignee_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_tasks")),
    )
    op.create_index(op.f("ix_review_tasks_application_id"), "review_tasks", ["application_id"])
    op.create_index("ix_review_tasks_queue", "review_tasks", ["agency_id", "status", "due_on", "id"])
    op.create_index("ix_review_tasks_due", "review_tasks", ["due_on", "id"])


def downgrade() -> None:
    op.drop_index("ix_review_tasks_due", table_name="review_tasks")
    op.drop_index("ix_review_tasks_queue", table_name="review_tasks")
    op.drop_index(op.f("ix_review_tasks_application_id"), table_name="review_tasks")
    op.drop_table("review_tasks")
