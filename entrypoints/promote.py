"""MLproject `promote` entry point: `mlflow run . -e promote -P name=NAME -P version=N -P alias=champion`."""

from entrypoints._params import run_verb

if __name__ == "__main__":
    run_verb(["promote"])
