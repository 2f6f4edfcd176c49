"""Loaded by schemathesis (SCHEMATHESIS_HOOKS, set by run.py) before it runs.

CPython 3.11 before 3.11.8 can fail `ast.parse` with "SystemError: AST constructor
recursion depth mismatch" when two threads parse at once, and hypothesis parses source
files to describe the filters schemathesis builds, from every worker thread. One lock
around that description lets `--workers` above 1 run on the Python 3.11.7 of our machines.
"""

import threading

from hypothesis.internal import lambda_sources

_lock = threading.Lock()
_describe = lambda_sources.lambda_description


def _described_one_at_a_time(f):
    with _lock:
        return _describe(f)


lambda_sources.lambda_description = _described_one_at_a_time
