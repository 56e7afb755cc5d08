"""Review queue at scale: the permit type on each task, and indexes for the permit and "mine" filters.

Measured on 1M applications (docs/benchmarks.md): filtering by a permit type rare in an
agency's queue read every open task of the agency through four joins; with the
column copied onto the task it is an index range.

Revision ID: b28f5d9e1a97
Revises: a17e4c8d0f86
Create Date: 2026-11-26 15:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b28f5d9e1a97"
down_revision = "a17e4c8d0f86"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_tasks") as batch:
        batch.add_column(sa.Column("permit_type_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE review_tasks SET permit_type_id = ("
        " SELECT permit_versions.permit_type_id FROM applications"
        " JOIN permit_versions ON permit_versions.id = applications.permit_version_id"
        " WHERE applications.id = review_tasks.application_id)"
    )
    with op.batch_alter_table("review_tasks") as batch:
        batch.alter_column("permit_type_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(op.f("fk_review_tasks_permit_type_id_permit_types"), "permit_types",
                                 ["permit_type_id"], ["id"])
        batch.create_index("ix_review_tasks_queue_permit",
                           ["agency_id", "status", "permit_type_id", "due_on", "id"])
        batch.create_index("ix_review_tasks_assignee", ["assignee_id", "status", "due_on", "id"])


def downgrade() -> None:
    with op.batch_alter_table("review_tasks") as batch:
        batch.drop_index("ix_review_tasks_assignee")
        batch.drop_index("ix_review_tasks_queue_permit")
        batch.drop_constraint(op.f("fk_review_tasks_permit_type_id_permit_types"), type_="foreignkey")
        batch.drop_column("permit_type_id")
