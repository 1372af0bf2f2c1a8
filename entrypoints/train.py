"""MLproject `train` entry point: `mlflow run . -e train -P model=<key> [-P data=FILE] --env-manager local`."""

from entrypoints._params import run_verb

if __name__ == "__main__":
    # Not quiet: the pipeline steps and the model's epochs show their progress on stderr under `mlflow run` too.
    run_verb(["train"])
