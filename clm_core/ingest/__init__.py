"""Spreadsheet ingestion: read (format, encoding, header), map columns, parse, validate, load.

``load_file(path, db, table=...)`` is the entry point used by the CLI and the Data page;
``quality`` reports on the data already loaded.
"""

from __future__ import annotations

from clm_core.ingest.load import LoadRejected, LoadResult, load_file, prepare, preview

__all__ = ["LoadRejected", "LoadResult", "load_file", "prepare", "preview"]
