"""What staff review of the ingest: the unmatched queue and the ingest runs."""
