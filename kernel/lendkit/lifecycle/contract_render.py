"""Rendering a loan agreement: the template's context, HTML, PDF, digests.

The template is ``contracts/loan_agreement.html``, looked up like every
template (the tenant's ``templates/`` first, then plugins', then the kit's),
so a tenant overrides the agreement by dropping a file with that name in its
folder. It declares its version in a comment (``{# lendkit-template-version:
2026.11-1 #}``), stored with each contract beside the SM3 digest of the
template's text and where it came from.

PDF: xhtml2pdf (HTML + CSS laid out by ReportLab) with ReportLab's built-in
CID font ``STSong-Light`` (Adobe's Simplified Chinese font, referenced, not
embedded): no font files and no system packages are needed to render, and a
reader with the Adobe Asian font pack or any CJK fallback font shows it.
Nothing is fetched over the network while rendering.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit.clock import CHINA
from lendkit.crypto.sm3 import sm3_hex
from lendkit.lifecycle.loan_models import Loan, LoanEvent
from lendkit.lifecycle.pricing import AnnualizedRate
from lendkit.lifecycle.schedules import Schedule
from lendkit.masking import mask_id_number, mask_name
from lendkit.models import Borrower

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = [
    "METHODS",
    "TEMPLATE",
    "Rendered",
    "agreement_context",
    "booked_on",
    "html_to_pdf",
    "render",
]

TEMPLATE = "contracts/loan_agreement.html"
# The template declares its version in a comment: {# lendkit-template-version: 2026.11 #}
_VERSION = re.compile(r"lendkit-template-version:\s*([\w.+-]{1,40})")
METHODS = {
    "equal-installment": ("等额本息", "equal instalments"),
    "equal-principal": ("等额本金", "equal principal"),
    "interest-first": ("先息后本", "interest first, principal at maturity"),
    "bullet": ("到期一次还本付息", "principal and interest at maturity"),
}
_PDF_LOCK = threading.Lock()  # xhtml2pdf/ReportLab keep global state (font registry)
log = logging.getLogger(__name__)
# xhtml2pdf's messages quote the document's text, which names the borrower:
# they never reach the logs (html_to_pdf logs how many there were instead).
_XHTML2PDF_LOG = logging.getLogger("xhtml2pdf")
_XHTML2PDF_LOG.addHandler(logging.NullHandler())
_XHTML2PDF_LOG.propagate = False


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered agreement and the template text it came from."""

    html: str
    pdf: bytes
    template: str
    version: str
    origin: str  # tenant | plugin | kit
    template_sm3: str


def _origin(filename: str | None, tenant_dir: Path, kit_dir: Path) -> str:
    path = Path(filename or "").resolve()
    if path.is_relative_to(tenant_dir.resolve()):
        return "tenant"
    if path.is_relative_to(kit_dir.resolve()):
        return "kit"
    return "plugin"


def render(runtime: Runtime, context: Mapping[str, Any], template: str = TEMPLATE) -> Rendered:
    """Render ``template`` with ``context`` to HTML and the HTML to PDF."""
    from lendkit.templating import kit_templates_dir, make_environment

    env = make_environment(runtime.settings, runtime.pm)
    assert env.loader is not None
    source, filename, _ = env.loader.get_source(env, template)
    html = env.get_template(template).render(**context)
    found = _VERSION.search(source)
    roots = tuple(
        p for p in (runtime.settings.path("templates"), kit_templates_dir()) if p.is_dir()
    )
    return Rendered(
        html=html,
        pdf=html_to_pdf(html, Path(filename).parent if filename else None, roots),
        template=template,
        version=found.group(1) if found else "unversioned",
        origin=_origin(filename, runtime.settings.path("templates"), kit_templates_dir()),
        template_sm3=sm3_hex(source.encode("utf-8")),
    )


def html_to_pdf(html: str, base_dir: Path | None = None, roots: tuple[Path, ...] = ()) -> bytes:
    """The PDF of ``html``; images and stylesheets only from the template folders.

    Nothing is fetched over the network: a template (a tenant's override
    included) cannot make the server call out while rendering.
    """
    from xhtml2pdf import pisa
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    policy = ResourceAccessPolicy(allow_remote=False, base_dir=base_dir, extra_roots=roots)
    out = io.BytesIO()
    with _PDF_LOCK:
        status = pisa.CreatePDF(html, dest=out, encoding="utf-8", resource_policy=policy)
    if status.warn:
        log.warning("contract template rendered with warnings", extra={"warnings": status.warn})
    if status.err:
        raise RuntimeError(f"the contract template did not render ({status.err} errors)")
    return out.getvalue()


def _amount(value: Decimal) -> str:
    return f"{value:,.2f}"


def _percent(rate: Decimal, places: str = "0.01") -> str:
    return f"{(rate * 100).quantize(Decimal(places), rounding=ROUND_HALF_UP)}%"


def booked_on(session: Session, loan: Loan) -> date:
    """The business date the loan was booked (its schedule is laid from it until disbursed)."""
    day = session.scalar(
        select(LoanEvent.business_date)
        .where(LoanEvent.loan_id == loan.id, LoanEvent.kind == "booked")
        .order_by(LoanEvent.id)
        .limit(1)
    )
    return day or loan.created_at.astimezone(CHINA).date()


def agreement_context(
    runtime: Runtime,
    loan: Loan,
    borrower: Borrower,
    number: str,
    schedule: Schedule,
    rate: AnnualizedRate,
    adjustments: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """What the template sees: preformatted strings, plus the raw values.

    ``adjustments`` are the offer's (``adjust_offer``): each with its plugin
    (``source``), ``reason`` and the all-in rate before and after it.
    """
    tenant = runtime.settings.tenant
    zh, en = METHODS.get(loan.method, (loan.method, loan.method))
    return {
        "contract_no": number,
        "date": schedule.start.isoformat(),
        "lender": {"name": tenant.name, "display_name": tenant.display_name},
        "borrower": {
            "id": borrower.id,
            "name": borrower.name or "",
            "masked_name": mask_name(borrower.name or ""),
            "id_number": mask_id_number(borrower.id_number or ""),
        },
        "loan": {
            "id": loan.id,
            "product_code": loan.product_code,
            "principal": _amount(loan.principal),
            "term": loan.term,
            "method": loan.method,
            "method_zh": zh,
            "method_en": en,
            "annual_rate": _percent(loan.annual_rate, "0.0001"),
            "penalty_rate": _percent(loan.penalty_rate, "0.0001"),
            "day_count": loan.day_count,
            "grace_days": loan.grace_days,
            "upfront_fee": _amount(loan.upfront_fee),
            "instalment_fee": _amount(loan.instalment_fee),
            "net_disbursed": _amount(schedule.net_disbursed),
        },
        "schedule": [
            {
                "period": row.period,
                "due_date": row.due_date.isoformat(),
                "principal": _amount(row.principal),
                "interest": _amount(row.interest),
                "fee": _amount(row.fee),
                "payment": _amount(row.payment),
                "balance": _amount(row.balance),
            }
            for row in schedule.rows
        ],
        "totals": {
            "principal": _amount(schedule.total_principal),
            "interest": _amount(schedule.total_interest),
            "fees": _amount(schedule.total_fees),
            "payment": _amount(schedule.total_payment),
        },
        "adjustments": [
            {
                "source": str(a["source"]),
                "reason_code": str(a["reason_code"]),
                "reason": str(a["reason"]),
                "apr_before": _percent(Decimal(a["apr_before"])),
                "apr_after": _percent(Decimal(a["apr_after"])),
            }
            for a in adjustments
        ],
        "apr_irr": _percent(rate.apr_irr),
        "apr_simple": _percent(rate.apr_simple),
        "apr_irr_decimal": str(rate.apr_irr),
        "apr_simple_decimal": str(rate.apr_simple),
        "raw": {"loan": loan, "schedule": schedule, "rate": rate},
    }
