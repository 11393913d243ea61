"""The evaluation reports, rendered from saved results by one renderer (:mod:`pipeline.report.blocks`):

- ``registry``: every artefact the report shows, its path and the command (make target, project step) that makes it
- ``inputs``: readers of the files other commands write (comparisons, training logs, JSON results)
- ``tables``: the report's tables as DataFrames
- ``plots``: every plot, with one Japanese font set-up
- ``sections``: the sections, as blocks
- ``blocks``: the block types and the Markdown and HTML renderers
- ``build``: :func:`write_report`, :func:`write_comparison_report`, :func:`write_generation_report`,
  :func:`write_summary`
"""

from pipeline.report.build import write_comparison_report, write_generation_report, write_report, write_summary

__all__ = ["write_comparison_report", "write_generation_report", "write_report", "write_summary"]
