"""Pipeline benchmark on synthetic 1-minute bars: features vs TA-Lib, labels vs mlfinpy, HMM regimes.

Usage:  python benchmarks/pipeline.py --bars 1000000 [--events 20000] [--only features,labels,regimes]

Every figure is measured in this run, peers included, and printed as ratios; nothing here is a pass/fail test.
The label peer (mlfinpy) pins an old NumPy: install it with `pip install --no-deps mlfinpy` (see the Makefile's
`bench` target). Targets (2-core machine): features <= 5 s and <= 2x TA-Lib on the shared indicators, peak memory
<= 2x the float32 feature matrix; labels >= 50x faster than mlfinpy and <= 1 s; regimes <= 30 s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=20_000, help="events for the (slow) mlfinpy peer")
    ap.add_argument("--only", default="features,labels,regimes")
    ap.add_argument("--json", default=None, help="also write all figures to this JSON file")
    args = ap.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    results = {}
    if "features" in parts:
        import bench_features

        print("== features ==", flush=True)
        results["features"] = bench_features.run(n_bars=args.bars)
    if "labels" in parts:
        import bench_labels

        print("== labels ==", flush=True)
        results["labels"] = bench_labels.run(n_bars=args.bars, n_events=args.events)
    if "regimes" in parts:
        import bench_regimes

        print("== regimes ==", flush=True)
        results["regimes"] = bench_regimes.run(n_bars=args.bars)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
