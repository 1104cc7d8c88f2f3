"""Rendering of ``doctor``: one block per finding (level, meaning, evidence, fix), or JSON."""

from __future__ import annotations

from typing import Any

from pipcachex.doctor import DoctorReport, Finding, Level
from pipcachex.render.output import Output

_STYLES = {Level.OK: "green", Level.WARN: "yellow", Level.FAIL: "bold red"}


def finding_json(finding: Finding) -> dict[str, Any]:
    """The JSON form of one finding."""
    return {
        "code": finding.code.value,
        "level": finding.level.value,
        "message": finding.message,
        "evidence": [
            {"what": e.what, "value": e.value, "where": e.where} for e in finding.evidence
        ],
        "fix": finding.fix,
        "cache_dir": finding.cache_dir,
    }


def doctor_json(report: DoctorReport) -> dict[str, Any]:
    """The JSON document of ``doctor`` (without the schema number ``emit_json`` adds)."""
    return {
        "ok": not report.failed,
        "counts": {level.value: report.count(level) for level in Level},
        "pips": [
            {
                "python": p.python,
                "version": p.version,
                "cache_dir": p.cache_dir,
                "http_layout": p.http_layout,
            }
            for p in report.pips
        ],
        "caches": list(report.caches),
        "findings": [finding_json(f) for f in report.findings],
    }


def render_doctor(output: Output, report: DoctorReport) -> None:
    """Show every finding; the counts go to stderr as a summary."""
    if output.json_mode:
        output.emit_json(doctor_json(report))
        return
    for finding in report.findings:
        if output.quiet and finding.level is Level.OK:
            continue
        output.out.print(
            f"{finding.level.value.upper():<4}",
            style=_STYLES[finding.level],
            end=" ",
            markup=False,
        )
        output.out.print(f"{finding.message} [{finding.code.value}]", markup=False)
        for item in finding.evidence:
            where = f"  ({item.where})" if item.where else ""
            output.out.print(f"     {item.what}: {item.value}{where}", markup=False, style="dim")
        if finding.fix:
            output.out.print(f"     fix: {finding.fix}", markup=False)
    counts = ", ".join(f"{report.count(level)} {level.value}" for level in Level)
    output.info(f"doctor: {counts}")
