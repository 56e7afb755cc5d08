"""Licences: issued licences, their per-type yearly number counters, and renewals.

Revision ID: d4a07b1c3e19
Revises: c39a6e0f2b08
Create Date: 2026-11-26 16:10:00
"""

import sqlalchemy as sa
from alembic import op

import bizportal.database

revision = "d4a07b1c3e19"
down_revision = "c39a6e0f2b08"
branch_labels = None
depends_on = None

STATUSES = ("pending", "issued", "suspended", "revoked", "expired")


def upgrade() -> None:
    op.create_table(
        "licences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=80), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("permit_type_id", sa.Integer(), nullable=False),
        sa.Column("permit_version_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.String(length=63), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("business_name_th", sa.String(length=200), nullable=False),
        sa.Column("business_name_en", sa.String(length=200), nullable=True),
        sa.Column("premises_address", sa.Text(), nullable=True),
        sa.Column("year_be", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("status", sa.Enum(*STATUSES, name="licencestatus", native_enum=False, length=9), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("status_changed_at", bizportal.database.UtcDateTime(), nullable=True),
        sa.Column("approved_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.Column("issued_at", bizportal.database.UtcDateTime(), nullable=True),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        sa.Column("file_path", sa.String(length=300), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("signed_token", sa.Text(), nullable=True),
        sa.Column("renews_licence_id", sa.Integer(), nullable=True),
        sa.Column("created_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_licences_agency_id_agencies")),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name=op.f("fk_licences_application_id_applications")),
        sa.ForeignKeyConstraint(["holder_id"], ["users.id"], name=op.f("fk_licences_holder_id_users")),
        sa.ForeignKeyConstraint(["issued_by_id"], ["users.id"], name=op.f("fk_licences_issued_by_id_users")),
        sa.ForeignKeyConstraint(["permit_type_id"], ["permit_types.id"],
                                name=op.f("fk_licences_permit_type_id_permit_types")),
        sa.ForeignKeyConstraint(["permit_version_id"], ["permit_versions.id"],
                                name=op.f("fk_licences_permit_version_id_permit_versions")),
        sa.ForeignKeyConstraint(["renews_licence_id"], ["licences.id"],
                                name=op.f("fk_licences_renews_licence_id_licences")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licences")),
        sa.UniqueConstraint("application_id", name=op.f("uq_licences_application_id")),
        sa.UniqueConstraint("number", name=op.f("uq_licences_number")),
        sa.UniqueConstraint("renews_licence_id", name=op.f("uq_licences_renews_licence_id")),
    )
    with op.batch_alter_table("licences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_licences_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_licences_holder_id"), ["holder_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_licences_permit_type_id"), ["permit_type_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_licences_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_licences_valid_until"), ["valid_until"], unique=False)

    op.create_table(
        "licence_counters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("permit_type_id", sa.Integer(), nullable=False),
        sa.Column("year_be", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["permit_type_id"], ["permit_types.id"],
                                name=op.f("fk_licence_counters_permit_type_id_permit_types")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licence_counters")),
        sa.UniqueConstraint("permit_type_id", "year_be", name=op.f("uq_licence_counters_permit_type_id_year_be")),
    )

    op.create_table(
        "licence_renewals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("licence_id", sa.Integer(), nullable=False),
        sa.Column("started_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name=op.f("fk_licence_renewals_application_id_applications"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["licence_id"], ["licences.id"], name=op.f("fk_licence_renewals_licence_id_licences")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licence_renewals")),
        sa.UniqueConstraint("application_id", name=op.f("uq_licence_renewals_application_id")),
    )
    with op.batch_alter_table("licence_renewals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_licence_renewals_licence_id"), ["licence_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("licence_renewals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_licence_renewals_licence_id"))
    op.drop_table("licence_renewals")
    op.drop_table("licence_counters")
    with op.batch_alter_table("licences", schema=None) as batch_op:
        for column in ("valid_until", "status", "permit_type_id", "holder_id", "agency_id"):
            batch_op.drop_index(batch_op.f(f"ix_licences_{column}"))
    op.drop_table("licences")
