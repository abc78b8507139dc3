"""Writes: scheduled reports mailed to admins (the monthly SLA report, the
daily health report). Each is recorded as a ReportRun, one per period, so a
retried or re-run beat job does not mail it twice; `force` sends it again."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from ops import daily_report, kb, sla
from ops.models import ReportRun
from ops.notify import admin_emails

logger = logging.getLogger(__name__)


def _site_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _send(subject: str, template: str, context: dict[str, Any], recipients: list[str]) -> None:
    text = render_to_string(f"ops/{template}.txt", context)
    html = render_to_string(f"ops/{template}.html", context)
    message = EmailMultiAlternatives(" ".join(subject.split()), text, settings.DEFAULT_FROM_EMAIL, recipients)
    message.attach_alternative(html, "text/html")
    message.send()


def _record(kind: str, period: str, *, force: bool, emailed_to: list[str], figures: dict[str, Any]) -> ReportRun | None:
    """The run's row, or None when this period was already sent (and not forced)."""
    try:
        with transaction.atomic():
            if force:
                ReportRun.objects.filter(kind=kind, period=period).delete()
            return ReportRun.objects.create(kind=kind, period=period, emailed_to=emailed_to, figures=figures)
    except IntegrityError:
        return None


def sla_report_send(*, month: date | None = None, force: bool = False, now: datetime | None = None) -> ReportRun | None:
    """Mail the month's SLA report (by default the month that just ended) to
    every admin. None when it was already sent for that month."""
    now = now or timezone.now()
    month = month or sla.previous_month(sla.current_month(now))
    period = month.strftime("%Y-%m")
    if not force and ReportRun.objects.filter(kind=ReportRun.Kind.SLA, period=period).exists():
        return None
    report = sla.monthly_report(month, now=now)
    recipients = admin_emails()
    summary = {
        "uptime_percent": report["overall"]["uptime_percent"],
        "met": report["overall"]["met"],
        "incidents": report["incidents"]["total"],
        "breaches": len(report["breaches"]),
    }
    run = _record(ReportRun.Kind.SLA, period, force=force, emailed_to=recipients, figures=summary)
    if run is None:
        return None
    if recipients:
        context = {
            "report": report,
            "url": _site_url(reverse("ops:sla_month", args=[period])),
            "csv_url": _site_url(reverse("ops:sla_csv", args=[period])),
            "site_name": settings.SITE_NAME,
        }
        verdict = "target met" if report["overall"]["met"] else "TARGET MISSED"
        if report["overall"]["met"] is None:
            verdict = "no data"
        uptime_text = report["overall"]["uptime_percent"]
        subject = f"[{settings.SITE_NAME}] SLA report {report['title']}: {uptime_text}% ({verdict})"
        transaction.on_commit(lambda: _send(subject, "sla_email", context, recipients))
    logger.info("SLA report %s sent to %d admins", period, len(recipients))
    return run


def daily_report_send(*, day: date | None = None, force: bool = False, now: datetime | None = None) -> ReportRun | None:
    """Mail yesterday's health report to every admin (once per day unless forced)."""
    now = now or timezone.now()
    day = day or daily_report.yesterday(now)
    period = day.isoformat()
    if not force and ReportRun.objects.filter(kind=ReportRun.Kind.DAILY, period=period).exists():
        return None
    report = daily_report.health_report(day, now=now)
    recipients = admin_emails()
    figures = {
        "database_bytes": report["database_bytes"],
        "incidents": len(report["incidents"]),
        "error_rate": report["requests"]["error_rate"],
        "p95_ms": report["p95_ms"],
    }
    run = _record(ReportRun.Kind.DAILY, period, force=force, emailed_to=recipients, figures=figures)
    if run is not None and recipients:
        context = {"report": report, "url": _site_url(reverse("ops:dashboard")), "site_name": settings.SITE_NAME}
        problems = sum(1 for p in report["probes"] if p["uptime_percent"] is not None and p["uptime_percent"] < 100)
        subject = (
            f"[{settings.SITE_NAME}] Daily health {day:%d %b}: {len(report['incidents'])} incident(s), "
            f"{report['requests']['error_rate']:.2%} errors, {problems} component(s) below 100%"
        )
        transaction.on_commit(lambda: _send(subject, "daily_report_email", context, recipients))
    return run


def kb_stale_reminder_send(*, now: datetime | None = None) -> int:
    """Mail the admins the knowledge-base articles past their review date; returns how many."""
    stale = kb.stale_articles(now=now)
    recipients = admin_emails()
    if stale and recipients:
        context = {
            "articles": [
                {"title": a.title, "due": a.review_due(), "url": _site_url(reverse("kb_article", args=[a.slug]))}
                for a in stale
            ],
            "site_name": settings.SITE_NAME,
        }
        subject = f"[{settings.SITE_NAME}] {len(stale)} knowledge-base article(s) due for review"
        transaction.on_commit(lambda: _send(subject, "kb_stale_email", context, recipients))
    return len(stale)
