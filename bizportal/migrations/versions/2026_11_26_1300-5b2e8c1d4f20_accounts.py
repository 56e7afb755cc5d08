"""Accounts: users with roles, failed login attempts and the e-mail outbox.

Revision ID: 5b2e8c1d4f20
Revises: 3f1c2a9b7d10
Create Date: 2026-11-26 13:00:00
"""

import sqlalchemy as sa
from alembic import op

import bizportal.database

revision = "5b2e8c1d4f20"
down_revision = "3f1c2a9b7d10"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.Enum("entrepreneur", "officer", "admin", name="role", native_enum=False,
                                  length=12), nullable=False),
        sa.Column("agency_id", sa.String(length=63), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_users_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(op.f("ix_users_agency_id"), "users", ["agency_id"])
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=False),
        sa.Column("attempted_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index("ix_login_attempts_email_ip_address_attempted_at", "login_attempts",
                    ["email", "ip_address", "attempted_at"])
    op.create_table(
        "outbox_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", bizportal.database.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_emails")),
    )
    op.create_index(op.f("ix_outbox_emails_recipient"), "outbox_emails", ["recipient"])
    op.create_index(op.f("ix_outbox_emails_created_at"), "outbox_emails", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_emails_created_at"), table_name="outbox_emails")
    op.drop_index(op.f("ix_outbox_emails_recipient"), table_name="outbox_emails")
    op.drop_table("outbox_emails")
    op.drop_index("ix_login_attempts_email_ip_address_attempted_at", table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_index(op.f("ix_users_agency_id"), table_name="users")
    op.drop_table("users")
