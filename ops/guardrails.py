"""Flags that protect themselves: detection rules that watch a flag's variant
against control, act on the flag through analytics' flag service, and the
SRM rule for experiments.

A `flag_error_rate` rule fires when the server-error rate of requests from
users who saw the flag "on" exceeds that of users who saw it "off" by more
than `threshold` (a fraction: 0.02 is two points); `flag_p95` when the on-side
p95 exceeds the off-side p95 by more than `threshold` ms. Both sides need
`min_requests` in the window. When such a rule opens its incident and its
`flag_action` says so, the flag is turned off or taken back one rollout step
(audited as source "guardrail"), the incident timeline says what was done and
the on-call are notified. Each pass also tells analytics whether the flag's
guardrails hold, which is what lets a gradual rollout advance by itself.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from analytics import experiments, flags
from analytics.models import Experiment, Flag, FlagChange
from ops import histogram
from ops.flag_metrics import EXPERIMENT_PREFIX
from ops.models import DetectionRule, FlagRequestMetric, Incident, IncidentUpdate

logger = logging.getLogger(__name__)

FLAG_KINDS = {DetectionRule.Kind.FLAG_ERROR_RATE, DetectionRule.Kind.FLAG_P95}
VARIANT, CONTROL = "on", "off"


def _sides(rule: DetectionRule, now: datetime) -> dict[str, dict[str, Any]]:
    from ops.metrics import minute_of

    end = minute_of(now)
    rows = FlagRequestMetric.objects.filter(
        flag=rule.flag, bucket_start__gt=end - timedelta(minutes=rule.window_minutes), bucket_start__lte=end
    ).only("variant", "request_count", "server_errors", "histogram")
    sides: dict[str, dict[str, Any]] = {side: {"requests": 0, "errors": 0, "hists": []} for side in (VARIANT, CONTROL)}
    for row in rows:
        side = sides.get(row.variant)
        if side is not None:
            side["requests"] += row.request_count
            side["errors"] += row.server_errors
            side["hists"].append(row.histogram)
    return sides


def measure_flag(rule: DetectionRule, *, now: datetime) -> dict[str, Any]:
    sides = _sides(rule, now)
    on, off = sides[VARIANT], sides[CONTROL]
    out: dict[str, Any] = {"flag": rule.flag, "requests": on["requests"], "control_requests": off["requests"]}
    if rule.kind == DetectionRule.Kind.FLAG_ERROR_RATE:
        on_rate = on["errors"] / on["requests"] if on["requests"] else 0.0
        off_rate = off["errors"] / off["requests"] if off["requests"] else 0.0
        out.update(
            value=round(on_rate - off_rate, 4),
            variant_rate=round(on_rate, 4),
            control_rate=round(off_rate, 4),
            errors=on["errors"],
            control_errors=off["errors"],
        )
    else:
        on_p95 = histogram.percentile(histogram.merge(on["hists"]), 0.95) if on["requests"] else None
        off_p95 = histogram.percentile(histogram.merge(off["hists"]), 0.95) if off["requests"] else None
        out.update(
            value=round((on_p95 or 0) - (off_p95 or 0), 1) if on_p95 is not None and off_p95 is not None else 0.0,
            variant_p95=on_p95,
            control_p95=off_p95,
        )
    enough = on["requests"] >= rule.min_requests and off["requests"] >= rule.min_requests
    out["fires"] = enough and out["value"] > rule.threshold
    if not enough:
        out["note"] = f"below the minimum volume on one side (need {rule.min_requests} requests each)"
    return out


def measure_srm(rule: DetectionRule) -> dict[str, Any]:
    failing = experiments.srm_failures()
    return {
        "value": len(failing),
        "fires": bool(failing),
        "experiments": [{"name": e.name, "chi2": round(srm.chi2, 2), "p_value": srm.p_value} for e, srm in failing],
    }


def describe(rule: DetectionRule, m: dict[str, Any]) -> str:
    if rule.kind == DetectionRule.Kind.FLAG_ERROR_RATE:
        return (
            f"Flag {rule.flag}: server errors {m['variant_rate']:.2%} with the flag on vs {m['control_rate']:.2%} "
            f"off over {rule.window_minutes} min ({m['requests']} / {m['control_requests']} requests; "
            f"threshold +{rule.threshold:.1%})."
        )
    if rule.kind == DetectionRule.Kind.FLAG_P95:
        return (
            f"Flag {rule.flag}: p95 {m['variant_p95']} ms with the flag on vs {m['control_p95']} ms off over "
            f"{rule.window_minutes} min (threshold +{rule.threshold:.0f} ms)."
        )
    names = ", ".join(f"{e['name']} (p = {e['p_value']:.1e})" for e in m["experiments"])
    return f"Sample ratio mismatch in {names}: assignment or exposure recording is broken; results are not valid."


def act(rule: DetectionRule, incident: Incident, m: dict[str, Any], *, now: datetime) -> str:
    """Do what the rule says to its flag; returns what was done ("" for nothing)."""
    if rule.kind not in FLAG_KINDS or rule.flag_action == DetectionRule.FlagAction.NONE:
        return ""
    flag = Flag.objects.filter(name=rule.flag).first()
    if flag is None or flags.effective_percentage(flag) == 0:
        return ""
    reason = f"guardrail {rule.slug}: {describe(rule, m)}"
    if rule.flag_action == DetectionRule.FlagAction.STEP_BACK and flag.rollout_step:
        flag = flags.flag_step_back(flag=flag, actor=None, source=FlagChange.Source.GUARDRAIL, reason=reason, now=now)
        done = f"Guardrail took flag {flag.name} back to {flag.percentage:g}%."
    else:
        flags.flag_update(
            flag=flag,
            actor=None,
            source=FlagChange.Source.GUARDRAIL,
            reason=reason,
            now=now,
            enabled=False,
            auto_advance=False,
        )
        done = f"Guardrail turned flag {flag.name} off; everyone gets the control experience."
    IncidentUpdate.objects.create(incident=incident, created_at=now, message=done, data={"flag": flag.name, **m})
    return done


def report(rule: DetectionRule, m: dict[str, Any], *, now: datetime) -> None:
    """Tell analytics whether this flag's guardrail holds (auto-advance waits for it)."""
    if rule.kind in FLAG_KINDS and rule.flag:
        healthy = not m["fires"] and "note" not in m
        flags.flag_guard_report(
            name=rule.flag, healthy=healthy, note=describe(rule, m) if m.get("fires") else m.get("note", ""), now=now
        )


def breakdown(*, minutes: int, now: datetime) -> list[dict[str, Any]]:
    """Requests, error rate and p95 per flag (and experiment) and variant over
    the last `minutes`: one query, and one more for the experiments' controls."""
    from ops.metrics import minute_of

    end = minute_of(now)
    rows = FlagRequestMetric.objects.filter(
        bucket_start__gt=end - timedelta(minutes=minutes), bucket_start__lte=end
    ).values_list("flag", "variant", "request_count", "server_errors", "histogram")
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for flag, variant, count, errors, hist in rows:
        g = groups.setdefault((flag, variant), {"requests": 0, "errors": 0, "hists": []})
        g["requests"] += count
        g["errors"] += errors
        g["hists"].append(hist)
    experiment_names = {f.removeprefix(EXPERIMENT_PREFIX) for f, _ in groups if f.startswith(EXPERIMENT_PREFIX)}
    controls = {
        e.name: e.control_key for e in Experiment.objects.filter(name__in=experiment_names).only("name", "variants")
    }
    out = []
    for (flag, variant), g in sorted(groups.items()):
        experiment = flag.removeprefix(EXPERIMENT_PREFIX) if flag.startswith(EXPERIMENT_PREFIX) else None
        out.append(
            {
                "flag": flag,
                "experiment": experiment,
                "variant": variant,
                "control": variant == (controls.get(experiment) if experiment else CONTROL),
                "requests": g["requests"],
                "errors": g["errors"],
                "error_rate": g["errors"] / g["requests"] if g["requests"] else 0.0,
                "p95_ms": histogram.percentile(histogram.merge(g["hists"]), 0.95),
            }
        )
    return out
