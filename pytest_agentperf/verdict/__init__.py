"""The verdict: what the figures say about a test.

``budgets`` (limits and their evaluation), ``baseline`` (comparison with a saved run),
``store`` (saved baselines on disk), ``significance`` (the statistical tests) and
``recommend`` (advice derived from the figures). Data in, data out: the text a person reads
is rendered by ``pytest_agentperf.report``.
"""
