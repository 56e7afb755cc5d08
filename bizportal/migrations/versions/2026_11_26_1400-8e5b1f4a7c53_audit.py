"""Audit: the append-only, hash-chained log of every state change and officer action.

Revision ID: 8e5b1f4a7c53
Revises: 7d4a0e3f6b42
Create Date: 2026-11-26 14:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bizportal.database

revision = "8e5b1f4a7c53"
down_revision = "7d4a0e3f6b42"
branch_labels = None
depends_on = None

json_document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", bizportal.database.UtcDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=63), nullable=False),
        sa.Column("subject_type", sa.String(length=63), nullable=False),
        sa.Column("subject_id", sa.String(length=63), nullable=False),
        sa.Column("from_state", sa.String(length=63), nullable=True),
        sa.Column("to_state", sa.String(length=63), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", json_document, nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_audit_entries_actor_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_entries_hash")),
    )
    op.create_index("ix_audit_entries_subject", "audit_entries", ["subject_type", "subject_id", "id"])
    op.create_table(
        "audit_chain_heads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_entry_id", sa.Integer(), nullable=True),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_heads")),
    )
    op.execute(sa.text("INSERT INTO audit_chain_heads (id, last_entry_id, last_hash) VALUES (1, NULL, '"
                       + "0" * 64 + "')"))


def downgrade() -> None:
    op.drop_table("audit_chain_heads")
    op.drop_index("ix_audit_entries_subject", table_name="audit_entries")
    op.drop_table("audit_entries")
