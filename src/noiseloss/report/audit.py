"""The page of an audit folder: verdicts, the small-multiples figure, the audit table.

::

    OUT/audit.parquet, severity.parquet, manifest.csv  ->  OUT/audit.html, OUT/audit.png,
                                                            OUT/report.css

Text from the audit (metric, family and file names) is escaped by the template (jinja2
autoescape).
"""

from __future__ import annotations

from pathlib import Path


def write_audit_page(out_dir: str | Path, result, *, families, options) -> Path:
    """Draw ``OUT/audit.png`` and write ``OUT/audit.html``; return the page's path.

    Args:
        out_dir: The audit folder.
        result: The ``auditing.AuditResult``.
        families: The ``auditing.Family`` ladders that were run.
        options: The ``auditing.AuditOptions``.
    """
    from noiseloss.analysis.audit import VERDICTS
    from noiseloss.figures.audit import draw_audit
    from noiseloss.report.html import _environment, cell, copy_static

    out = Path(out_dir)
    drawn = draw_audit(result.severity)
    drawn.figure.savefig(out / "audit.png", dpi=90, metadata={"Software": None})
    rows = [{"metric": r["metric"], "family": r["family"], "verdict": r["verdict"],
             "cells": [cell(r[c]) for c in ("degraded", "n_clean", "n_damaged")],
             "auroc": _interval(r, "auroc"), "spearman": _interval(r, "spearman"),
             "wrong_way": r["wrong_way"]}
            for _, r in result.table.iterrows()]
    html = _environment().get_template("audit.html").render(
        root="", verdicts=list(result.verdicts.values()), rows=rows, caption=drawn.caption,
        families=families, options=options, verdict_meanings=VERDICTS,
        n_clips=result.manifest.loc[result.manifest["severity"] == 0, "item"].nunique(),
        n_files=len(result.manifest), failed=result.failed)
    copy_static(out, "report.css")
    page = out / "audit.html"
    page.write_text(html, encoding="utf-8")
    return page


def _interval(row, name: str) -> str:
    from noiseloss.report.html import cell

    return f"{cell(row[name])} [{cell(row[name + '_low'])}, {cell(row[name + '_high'])}]"
