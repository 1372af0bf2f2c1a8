"""The table printed by ``factory models list``."""

from __future__ import annotations

from typing import Any

_COLUMNS = (("key", "KEY"), ("family", "FAMILY"), ("input_kind", "INPUT"), ("production_safe", "PRODUCTION"),
            ("needs_gpu", "GPU"))


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def format_model_table(rows: list[dict[str, Any]] | None = None) -> str:
    """Registered models as an aligned plain-text table (one header line, one line per model)."""
    if rows is None:
        from factory.models import model_info

        rows = model_info()
    cells = [[title for _, title in _COLUMNS]] + [[_cell(r[k]) for k, _ in _COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells)
