"""Reports of a performance session: the records and their renderings.

``records`` (``TestRecord`` per test, ``SessionRecords``), ``text`` (plain text tables and
failure texts), ``terminal`` (the end-of-session summary), ``document`` (the JSON results
document and its github-action-benchmark files), ``html`` and ``svg`` (the single-file
HTML report), ``environment`` (what the run ran on) and ``progress`` (the live progress
line). Renderers take records or the document and return text or data.
"""
