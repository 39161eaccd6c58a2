"""skinfindings predict PHOTO... [--checkpoint C]: findings per photo as JSON lines.

Nothing is written anywhere but standard output.
"""

from __future__ import annotations

import argparse
import json

from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skinfindings predict", description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+", help="photo files")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="checkpoint .json (default: shipped)")
    args = parser.parse_args(argv)

    from skinfindings.model.predictor import Predictor

    predictor = Predictor(args.checkpoint)
    failed = 0
    for result in predictor.predict_many(args.photos):
        failed += result.error is not None
        row = {
            "photo": result.name,
            "possible_findings": result.present,
            "probabilities": {k: round(v, 4) for k, v in result.probabilities.items()},
            "abstained": result.abstention.code if result.abstention else None,
            "error": result.error,
        }
        print(json.dumps(row))
    return 1 if failed else 0
