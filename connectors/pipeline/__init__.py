"""The one ingest pipeline every connector goes through.

    store raw -> parse -> validate -> convert -> resolve client -> upsert
    events -> recompute thread state -> keep every other record in the inbox
    -> count

It commits once per batch, together with the run's counts, so a crash loses
at most the batch in flight and rerunning the input completes it: records
already written come back as duplicates, never as second copies.
"""

from connectors.pipeline.core import DEFAULT_BATCH_SIZE, Pipeline

__all__ = ["DEFAULT_BATCH_SIZE", "Pipeline"]
