"""Alembic environment: runs on the connection ``lendkit.migrate`` hands over."""

from __future__ import annotations

from alembic import context

import lendkit.audit
import lendkit.auth.models
import lendkit.clearing.funding
import lendkit.clearing.ledger
import lendkit.clearing.payments
import lendkit.clearing.reconcile
import lendkit.lifecycle.application_models
import lendkit.lifecycle.client_context
import lendkit.lifecycle.collection_models
import lendkit.lifecycle.contract_models
import lendkit.lifecycle.loan_models
import lendkit.lifecycle.product_models
import lendkit.models  # noqa: F401 - the kernel's tables, for autogenerate
from lendkit.db import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
