"""The bench's figures, one module each: ack (1), ingest (2), replies (3), correlation (4), memory (5)."""
