"""raw payloads keep their bytes in parts: raw_payload_parts

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06

A payload's bytes were one LargeBinary value, and neither database keeps a
value over 1 GB: `flask ingest` of a million-ticket Zendesk export (1.6 GB)
failed with "string or blob too big" before reading a record. The bytes now
live in raw_payload_parts, in order, each at most 64 MB
(connectors.pipeline.runs.PART_BYTES). Every stored payload becomes its
first (and only) part, copied one payload at a time, so a big table is not
read into memory at once.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "raw_payload_parts",
        sa.Column("payload_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["payload_id"], ["raw_payloads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("payload_id", "seq"),
    )
    connection = op.get_bind()
    ids = connection.execute(sa.text("SELECT id FROM raw_payloads ORDER BY id")).scalars().all()
    for payload_id in ids:
        connection.execute(
            sa.text(
                "INSERT INTO raw_payload_parts (payload_id, seq, content)"
                " SELECT id, 0, content FROM raw_payloads WHERE id = :id"
            ),
            {"id": payload_id},
        )
    # Not a batch (a copy of the table on SQLite): with foreign keys on, dropping
    # the old raw_payloads would delete its parts (ON DELETE CASCADE) and clear
    # events' payload_id (SET NULL). Both engines drop a plain column in place.
    op.execute("ALTER TABLE raw_payloads DROP COLUMN content")


def downgrade():
    op.add_column("raw_payloads", sa.Column("content", sa.LargeBinary(), nullable=True))
    connection = op.get_bind()
    ids = connection.execute(sa.text("SELECT id FROM raw_payloads ORDER BY id")).scalars().all()
    for payload_id in ids:
        parts = connection.execute(
            sa.text(
                "SELECT content FROM raw_payload_parts WHERE payload_id = :id ORDER BY seq"
            ),
            {"id": payload_id},
        ).scalars()
        connection.execute(
            sa.text("UPDATE raw_payloads SET content = :content WHERE id = :id"),
            {"content": b"".join(bytes(part) for part in parts), "id": payload_id},
        )
    op.drop_table("raw_payload_parts")
