"""Reading Parquet files through Arrow's own file reader, never through a Python file object.

``pandas.read_parquet`` opens a local file in Python and hands Arrow that file object. Arrow's dataset scanner
can drop its last reference to the object on one of its worker threads just after the read has returned; when
that happens while the interpreter is shutting down, the worker cannot take the GIL, Python ends the thread, the
unwind crosses a ``noexcept`` destructor and the whole process aborts with "terminate called without an active
exception" (exit 134) after its work is done (apache/arrow#34314). A ``factory monitor --once`` that had written
every alert still exited 134 in about half its runs. Given the path, Arrow reads the file with its native reader
and no Python object ever reaches its threads.
"""

from __future__ import annotations

import os
from pathlib import Path


def read_parquet(path: str | Path, columns: list[str] | None = None):
    """The Parquet file at ``path`` as a DataFrame (same frame as ``pandas.read_parquet``, index included)."""
    import pyarrow.parquet as pq

    return pq.read_table(os.fspath(path), columns=columns, use_pandas_metadata=True).to_pandas()
