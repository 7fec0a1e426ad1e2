"""Catalog search kept inside each replica's process, next to its catalog snapshot.

A search service (Elasticsearch, a separate tantivy server) would be one more stateful thing to
run and keep in sync; the catalog fits in memory, so each replica indexes it itself.
"""
