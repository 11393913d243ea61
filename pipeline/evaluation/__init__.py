"""Evaluation: baselines, spaCy's and our text classifiers compared under one protocol, and a report.

``compare(task, protocol, output_dir)`` trains and scores the models and writes a results folder;
(:func:`pipeline.report.build.write_report` turns that folder into ``report.md`` and plots, without retraining.)
"""

from pipeline.evaluation.compare import compare
from pipeline.evaluation.results import Comparison, load_comparison

__all__ = ["Comparison", "compare", "load_comparison"]
