"""Reading recordings back: transactions, their events, diffs and summaries (viewer and CLI).

The write side is `luthien_litellm_plugin.storage`; this package only reads, from the same
SQLite file or Postgres schema, and never changes a row.
"""
