"""Local trace files (``traces.db``, ``traces.jsonl``): reading, pruning, feedback and export.

What the sinks wrote, read back for the CLI, the batch evaluator and the public ``peekr.feedback`` /
``peekr.export_feedback``. Writing spans is the sinks' job (:mod:`peekr.sinks`).
"""
