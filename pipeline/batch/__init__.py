"""Batch corpus processing (``knbc process``): inputs, engines (local processes, Dask), resumable output."""

from pipeline.batch import annotate
from pipeline.batch.annotate import AnnotateOptions
from pipeline.batch.inputs import InputSpec
from pipeline.batch.process import ProcessSummary, process

__all__ = ["annotate", "AnnotateOptions", "InputSpec", "ProcessSummary", "process"]
