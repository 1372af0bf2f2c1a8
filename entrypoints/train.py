"""MLproject `train` entry point: `mlflow run . -e train -P model=<key> [-P data=FILE] --env-manager local`."""

from entrypoints._params import run_verb

if __name__ == "__main__":
    run_verb(["train", "--quiet"])
