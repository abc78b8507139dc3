"""Build a month's SLA report now, print it and mail it to the admins."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops import reports, sla


class Command(BaseCommand):
    help = "Build the monthly SLA report (default: last month), print it and email it to the admins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--month", default="", help="YYYY-MM (default: the month that just ended)")
        parser.add_argument("--no-email", action="store_true", help="Print only; do not email the admins.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            month = sla.parse_month(options["month"]) if options["month"] else sla.previous_month(sla.current_month())
        except ValidationError as exc:
            raise CommandError(exc.message_dict["month"][0]) from exc
        report = sla.monthly_report(month)
        self.stdout.write(f"SLA report {report['title']} (target {report['target_percent']}%)")
        for row in [*report["components"], report["overall"]]:
            pct = "no data" if row["uptime_percent"] is None else f"{row['uptime_percent']:.3f}%"
            budget = row["error_budget"]["left_minutes"]
            self.stdout.write(
                f"  {row['label']:<10} {pct:>10}  downtime {row['downtime_minutes']:>8} min"
                f"  (no probe {row['unknown_minutes']}, maintenance {row['maintenance_minutes']})"
                f"  budget left {budget if budget is not None else '—'} min"
            )
        inc = report["incidents"]
        self.stdout.write(
            f"  incidents {inc['total']} {inc['by_severity']}  MTTD {inc['mttd_minutes']}  "
            f"MTTA {inc['mtta_minutes']}  MTTR {inc['mttr_minutes']} (minutes)"
        )
        backups = report["backups"]
        self.stdout.write(
            f"  backups {backups['nights_ok']}/{backups['nights_expected']} nights verified, "
            f"drills {backups['drills']['passed']} passed / {backups['drills']['failed']} failed"
        )
        for breach in report["breaches"]:
            self.stdout.write(self.style.WARNING(f"  breached: {breach}"))
        if options["no_email"]:
            return
        run = reports.sla_report_send(month=month, force=True)
        self.stdout.write(self.style.SUCCESS(f"Emailed to {len(run.emailed_to) if run else 0} admin(s)."))
