"""Businesses: the profiles entrepreneurs apply for.

Revision ID: 6c3f9d2e5a31
Revises: 5b2e8c1d4f20
Create Date: 2026-11-26 13:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bizportal.database

revision = "6c3f9d2e5a31"
down_revision = "5b2e8c1d4f20"
branch_labels = None
depends_on = None

json_document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "businesses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum("individual", "juristic", name="businesskind", native_enum=False, length=10),
                  nullable=False),
        sa.Column("tax_id", sa.String(length=13), nullable=False),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=True),
        sa.Column("address", json_document, nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("created_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.Column("updated_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_businesses_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_businesses")),
    )
    op.create_index(op.f("ix_businesses_owner_id"), "businesses", ["owner_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_businesses_owner_id"), table_name="businesses")
    op.drop_table("businesses")
