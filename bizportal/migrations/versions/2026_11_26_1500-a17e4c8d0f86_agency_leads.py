"""Agency leads: officers who may hand their agency's tasks to a colleague.

Revision ID: a17e4c8d0f86
Revises: 9f6c2a5b8d64
Create Date: 2026-11-26 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "a17e4c8d0f86"
down_revision = "9f6c2a5b8d64"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("is_agency_lead", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("is_agency_lead")
