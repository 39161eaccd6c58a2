"""How many words a person reads for one checked photo: the notice plus the results, as the app shows them.

    python -m skinfindings.app.words --manifest ../shared/data/real/manifest.csv --treatment microneedling --day 3

Counts the words visible without opening anything: text inside a closed ``<details>`` (estimates, heatmaps,
"what it is", general aftercare) is not counted, its ``<summary>`` is. Each photo of the manifest goes through
the Predictor and the app's own ``notice_html`` and ``results_html`` (no heatmaps: they hold no words). Prints the
median, 90th percentile and largest count over the photos the model assessed (docs/app.md, "Measured").

It only uses names that the app had before issue 22 too (``PhotoResult``, ``notice_html``, ``results_html``), so the
same file run against an older checkout (``PYTHONPATH``) measures the "before".
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import inspect
import re
import statistics
import sys
from html.parser import HTMLParser
from pathlib import Path


class _VisibleText(HTMLParser):
    """Text outside closed <details> (a <summary> is visible), outside <style> and <script>."""

    def __init__(self):
        super().__init__()
        self.depth = 0  # how many closed <details> we are inside
        self.in_summary = 0
        self.hidden_tag = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "details" and "open" not in dict(attrs):
            self.depth += 1
        elif tag == "details":
            self.depth += 0
        elif tag == "summary":
            self.in_summary += 1
        elif tag in ("style", "script"):
            self.hidden_tag += 1

    def handle_endtag(self, tag):
        if tag == "details" and self.depth:
            self.depth -= 1
        elif tag == "summary" and self.in_summary:
            self.in_summary -= 1
        elif tag in ("style", "script") and self.hidden_tag:
            self.hidden_tag -= 1

    def handle_data(self, data):
        summary_of_closed = self.in_summary and self.depth == 1
        if not self.hidden_tag and (self.depth == 0 or summary_of_closed):
            self.parts.append(data)


def visible_words(markup: str) -> int:
    """Words a reader sees in this HTML without opening any closed <details>."""
    parser = _VisibleText()
    parser.feed(markup)
    return len(re.findall(r"[A-Za-z0-9][A-Za-z0-9'’%.-]*", " ".join(parser.parts)))


def _call(function, *args, **optional):
    """Call with the keyword arguments this version of the function takes (the older app took fewer)."""
    accepted = inspect.signature(function).parameters
    return function(*args, **{k: v for k, v in optional.items() if k in accepted})


def words_for(predictor, photo: Path, procedure: str, day: int | None) -> int | None:
    """Notice + results words for one photo; None when the model did not assess it."""
    from skinfindings.app import check_tab, notice

    prediction = predictor.predict(photo, name=photo.name)
    if not prediction.assessed:
        return None
    known = {f.name for f in dataclasses.fields(check_tab.PhotoResult)}
    values = {"name": photo.name, "probabilities": prediction.probabilities, "thresholds": prediction.thresholds,
              "present": list(prediction.present), "rule_in": getattr(prediction, "rule_in", {}),
              "levels": getattr(prediction, "levels", {})}
    result = check_tab.PhotoResult(**{k: v for k, v in values.items() if k in known})
    page = _call(notice.notice_html, predictor.meta, result, [], procedure=procedure, days=day)
    page += _call(check_tab.results_html, result, procedure, day, flags=[])
    return visible_words(page)


def main(argv: list[str] | None = None) -> int:
    from skinfindings.model.predictor import Predictor

    parser = argparse.ArgumentParser(prog="python -m skinfindings.app.words", description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, type=Path, help="manifest CSV with a 'path' column")
    parser.add_argument("--treatment", default="microneedling")
    parser.add_argument("--day", type=int, default=3)
    parser.add_argument("--checkpoint", help="checkpoint .json (default: the shipped model)")
    args = parser.parse_args(argv)
    with args.manifest.open(newline="", encoding="utf-8-sig") as handle:
        photos = [args.manifest.parent / row["path"] for row in csv.DictReader(handle)]
    predictor = Predictor(args.checkpoint) if args.checkpoint else Predictor()
    counts = [c for c in (words_for(predictor, p, args.treatment, args.day) for p in photos) if c is not None]
    if not counts:
        print("no photo was assessed", file=sys.stderr)
        return 1
    p90 = statistics.quantiles(counts, n=10)[-1] if len(counts) > 1 else counts[0]
    print(f"{len(counts)} of {len(photos)} photos assessed ({args.treatment}, day {args.day}): words per result "
          f"median {statistics.median(counts):.0f}, 90th percentile {p90:.0f}, largest {max(counts)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
