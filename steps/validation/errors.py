"""The error a data problem ends a run with, shared by every step that finds one.

Its class name maps to exit code 3 in run.py, whichever step raised it
(validation, or the split that finds a class missing from one side).
"""

from __future__ import annotations


class DataValidationError(RuntimeError):
    """The data broke a validation rule; the message lists every failure."""
