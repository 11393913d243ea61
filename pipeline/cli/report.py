"""``knbc report``: the combined report from the comparisons, benchmarks and models on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


from pipeline.cli.common import app


@app.command("report")
def report_command(
    results: Optional[Path] = typer.Argument(
        None, help="Only this results folder (written by `knbc evaluate`): rebuild its report.md and plots."
    ),
    reports: Path = typer.Option(Path("reports"), "--reports", help="The folder of saved evaluation results."),
    models: Path = typer.Option(Path("models"), "--models", help="Trained models (for their learning curves)."),
) -> None:
    """Rebuild the evaluation report from saved results, without retraining.

    With no argument: the combined report of everything under --reports, REPORTS/index.html (HTML) and
    REPORTS/README.md (the same in Markdown), learning curves in REPORTS/learning_curves/, and each
    evaluation folder's own report.md and plots. With RESULTS: only that folder's report.md and plots.
    """
    if results is not None:
        from pipeline.report.build import write_report

        if not (results / "results.csv").is_file():
            typer.secho(f"error: {results} holds no results.csv; run `knbc evaluate` first", fg="red", err=True)
            raise typer.Exit(2)
        typer.echo(f"wrote {write_report(results)}")
        return
    from pipeline.report.build import write_summary

    if not reports.is_dir():
        typer.secho(f"error: {reports} is not a folder; `knbc evaluate --out {reports}/theme-cv5` (or "
                    "`make evaluate`) writes results there", fg="red", err=True)
        raise typer.Exit(2)
    summary = write_summary(reports, models)
    for line in summary.missing:
        typer.secho(f"missing: {line}", fg="yellow", err=True)
    typer.echo(f"wrote {summary.html} and {summary.markdown}")
