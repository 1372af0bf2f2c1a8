"""MLproject `evaluate` entry point: `mlflow run . -e evaluate -P models=all [-P data=FILE] --env-manager local`."""

import sys

from entrypoints._params import drop_empty, run_verb


def argv_for_cli(argv: list[str]) -> list[str]:
    """MLflow always passes `models` (default "all"); with a `model_uri` it is dropped, as the CLI takes one."""
    pairs = drop_empty(argv)
    flags = pairs[::2]
    if "--model-uri" in flags and "--models" in flags:
        i = flags.index("--models") * 2
        pairs = pairs[:i] + pairs[i + 2:]
    return pairs


if __name__ == "__main__":
    run_verb(["evaluate"], argv_for_cli(sys.argv[1:]))
