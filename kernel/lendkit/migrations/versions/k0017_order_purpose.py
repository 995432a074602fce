"""kernel: payment_order.purpose and .reamortize, the intent an order carries

Revision ID: k0017
Revises: k0016
Create Date: 2026-12-03

Orders made before it: a disbursement's purpose is ``disbursement``, a
collection's ``repayment``, unless the loan's history asked for that order
to settle the loan (``prepayment_requested``, the only place that intent
was kept before): then it is ``prepayment``.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "k0017"
down_revision = "k0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_order") as table:
        table.add_column(
            sa.Column("purpose", sa.String(16), nullable=False, server_default="repayment")
        )
        table.add_column(sa.Column("reamortize", sa.String(8)))
    order = sa.table(
        "payment_order", sa.column("kind"), sa.column("purpose"), sa.column("order_no")
    )
    event = sa.table("loan_event", sa.column("kind"), sa.column("detail"))
    op.execute(order.update().where(order.c.kind == "disburse").values(purpose="disbursement"))
    connection = op.get_bind()
    asked = connection.execute(
        sa.select(event.c.detail).where(event.c.kind == "prepayment_requested")
    ).scalars()
    for detail in asked:
        found = json.loads(detail) if isinstance(detail, str) else detail
        if found and found.get("order_no"):
            connection.execute(
                order.update()
                .where(order.c.order_no == found["order_no"])
                .values(purpose="prepayment")
            )


def downgrade() -> None:
    with op.batch_alter_table("payment_order") as table:
        table.drop_column("reamortize")
        table.drop_column("purpose")
