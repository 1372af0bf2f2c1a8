"""Turn the `--flag value` pairs an MLproject command passes into a `factory` command line."""

from __future__ import annotations

import sys

from factory.cli import main


def drop_empty(argv: list[str]) -> list[str]:
    """MLflow passes every declared parameter; an empty string means "use the default", so drop that pair."""
    out: list[str] = []
    it = iter(argv)
    for flag in it:
        value = next(it, "")
        if value != "":
            out += [flag, value]
    return out


def run_verb(verb: list[str], argv: list[str] | None = None) -> None:
    """Run ``factory <verb...> <non-empty params>`` and exit with its code."""
    sys.exit(main([*verb, *drop_empty(sys.argv[1:] if argv is None else argv)]))
