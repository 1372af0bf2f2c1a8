"""MLproject `train` entry point: `mlflow run . -e train -P model=<key> [-P data=FILE] --env-manager local`."""

import sys

from factory.cli import main


def _args(argv: list[str]) -> list[str]:
    # MLflow passes every parameter; empty strings mean "use the default".
    out = ["train", "--quiet"]
    it = iter(argv)
    for flag in it:
        value = next(it, "")
        if value != "":
            out += [flag, value]
    return out


if __name__ == "__main__":
    sys.exit(main(_args(sys.argv[1:])))
