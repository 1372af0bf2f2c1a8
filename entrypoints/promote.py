"""MLproject `promote` entry point: `mlflow run . -e promote -P name=NAME -P version=N -P alias=champion`."""

import sys

from factory.cli import main


def _args(argv: list[str]) -> list[str]:
    # MLflow passes every parameter; empty strings mean "use the default".
    out = ["promote"]
    it = iter(argv)
    for flag in it:
        value = next(it, "")
        if value != "":
            out += [flag, value]
    return out


if __name__ == "__main__":
    sys.exit(main(_args(sys.argv[1:])))
