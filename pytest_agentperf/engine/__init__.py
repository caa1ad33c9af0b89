"""The engine: drives a target under load and turns per-task timestamps into a PerfResult.

``runner`` (``AgentPerf``: run, run_sync, sweep), ``phase`` (the workers: the hot path),
``targets`` (what can be driven and how), ``task_records`` (per-task timestamps), ``stats``
(percentiles, time series, efficiency), ``selfcheck`` (the harness watching itself),
``sweep`` (SLO and knee rules), ``merge`` (results of side-by-side runs), ``asyncbench``
(pytest-benchmark for coroutines). It depends only on the foundation modules
(``errors``, ``units``, ``metrics``, ``result``) and on the protocols in ``protocols``.
"""
