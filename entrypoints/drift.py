"""MLproject `drift` entry point: `mlflow run . -e drift -P model_uri=models:/mes-lightgbm@champion -P log_dir=DIR`.

Runs the drift daemon (`factory monitor`); `-P once=true` processes the complete windows available now and exits.
"""

import sys

from entrypoints._params import run_verb

if __name__ == "__main__":
    argv = sys.argv[1:]
    # `--once <value>` arrives as a pair; the daemon takes it as a bare flag.
    flags = []
    if "--once" in argv:
        i = argv.index("--once")
        value = argv[i + 1] if i + 1 < len(argv) else ""
        argv = argv[:i] + argv[i + 2:]
        if value.strip().lower() in ("1", "true", "yes"):
            flags.append("--once")
    run_verb(["monitor", *flags], argv)
