"""Permit catalogue: agencies, permit types and their immutable versions.

Revision ID: 3f1c2a9b7d10
Revises:
Create Date: 2026-11-26 12:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bizportal.database

revision = "3f1c2a9b7d10"
down_revision = None
branch_labels = None
depends_on = None

json_document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("name_th", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("short_name_th", sa.Text(), nullable=True),
        sa.Column("short_name_en", sa.Text(), nullable=True),
        sa.Column("parent_id", sa.String(length=63), nullable=True),
        sa.Column("website", sa.Text(), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("extra_holidays", json_document, nullable=False),
        sa.Column("updated_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agencies")),
    )
    op.create_table(
        "permit_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("current_version_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("created_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permit_types")),
        sa.UniqueConstraint("key", name=op.f("uq_permit_types_key")),
    )
    op.create_table(
        "permit_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("permit_type_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("spec", json_document, nullable=False),
        sa.Column("permit_source", sa.Text(), nullable=False),
        sa.Column("form_source", sa.Text(), nullable=False),
        sa.Column("published_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.Column("published_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["permit_type_id"], ["permit_types.id"],
                                name=op.f("fk_permit_versions_permit_type_id_permit_types")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permit_versions")),
        sa.UniqueConstraint("permit_type_id", "content_hash",
                            name=op.f("uq_permit_versions_permit_type_id_content_hash")),
        sa.UniqueConstraint("permit_type_id", "number",
                            name=op.f("uq_permit_versions_permit_type_id_number")),
    )
    op.create_index(op.f("ix_permit_versions_permit_type_id"), "permit_versions", ["permit_type_id"])
    # permit_types and permit_versions point at each other; the second foreign key comes last.
    with op.batch_alter_table("permit_types") as batch:
        batch.create_foreign_key(op.f("fk_permit_types_current_version_id_permit_versions"),
                                 "permit_versions", ["current_version_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("permit_types") as batch:
        batch.drop_constraint(op.f("fk_permit_types_current_version_id_permit_versions"), type_="foreignkey")
    op.drop_index(op.f("ix_permit_versions_permit_type_id"), table_name="permit_versions")
    op.drop_table("permit_versions")
    op.drop_table("permit_types")
    op.drop_table("agencies")
