"""Applications: answers, engine state, uploaded documents and the timeline.

Revision ID: 7d4a0e3f6b42
Revises: 6c3f9d2e5a31
Create Date: 2026-11-26 13:20:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bizportal.database

revision = "7d4a0e3f6b42"
down_revision = "6c3f9d2e5a31"
branch_labels = None
depends_on = None

json_document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
STATUSES = ("draft", "in_review", "correction_requested", "information_requested", "approved", "rejected",
            "withdrawn")


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=True),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("permit_version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Enum(*STATUSES, name="applicationstatus", native_enum=False, length=21),
                  nullable=False),
        sa.Column("engine_state", json_document, nullable=False),
        sa.Column("answers", json_document, nullable=False),
        sa.Column("pending_input", json_document, nullable=False),
        sa.Column("correction", json_document, nullable=True),
        sa.Column("current_step", sa.String(length=63), nullable=True),
        sa.Column("submitted_at", bizportal.database.UtcDateTime(), nullable=True),
        sa.Column("expected_decision_on", sa.Date(), nullable=True),
        sa.Column("fees", json_document, nullable=False),
        sa.Column("created_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.Column("updated_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["applicant_id"], ["users.id"], name=op.f("fk_applications_applicant_id_users")),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"],
                                name=op.f("fk_applications_business_id_businesses")),
        sa.ForeignKeyConstraint(["permit_version_id"], ["permit_versions.id"],
                                name=op.f("fk_applications_permit_version_id_permit_versions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("reference", name=op.f("uq_applications_reference")),
    )
    op.create_index(op.f("ix_applications_applicant_id"), "applications", ["applicant_id"])
    op.create_index(op.f("ix_applications_business_id"), "applications", ["business_id"])
    op.create_index(op.f("ix_applications_permit_version_id"), "applications", ["permit_version_id"])
    op.create_index(op.f("ix_applications_status"), "applications", ["status"])

    op.create_table(
        "application_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.String(length=63), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_path", sa.String(length=300), nullable=False),
        sa.Column("uploaded_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"], ondelete="CASCADE",
                                name=op.f("fk_application_documents_application_id_applications")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_documents")),
        sa.UniqueConstraint("application_id", "document_id",
                            name=op.f("uq_application_documents_application_id_document_id")),
    )
    op.create_index(op.f("ix_application_documents_application_id"), "application_documents",
                    ["application_id"])

    op.create_table(
        "application_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("at", bizportal.database.UtcDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("stage_id", sa.String(length=63), nullable=True),
        sa.Column("agency_id", sa.String(length=63), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("data", json_document, nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"], ondelete="CASCADE",
                                name=op.f("fk_application_events_application_id_applications")),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_application_events_actor_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_events")),
    )
    op.create_index(op.f("ix_application_events_application_id"), "application_events", ["application_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_application_events_application_id"), table_name="application_events")
    op.drop_table("application_events")
    op.drop_index(op.f("ix_application_documents_application_id"), table_name="application_documents")
    op.drop_table("application_documents")
    for column in ("status", "permit_version_id", "business_id", "applicant_id"):
        op.drop_index(op.f(f"ix_applications_{column}"), table_name="applications")
    op.drop_table("applications")
