"""``skinfindings data import|check|stats|card|split|dedup|download`` — manifests in, checked, described.

    skinfindings data import manifest /work/shared/data/real/manifest.csv --out runs/data/real
    skinfindings data check runs/data/real/manifest.csv --dedup
    skinfindings data card runs/data/real/manifest.csv --out docs/real_data_card.md --by diagnosis
    skinfindings data split runs/data/mine/manifest.csv --fractions 0.8 0.1 0.1 --stratify
    skinfindings data split runs/data/real/manifest.csv --folds 5 --out runs/data/real/folds.csv

Exit status: 0 when everything passed, 1 when a check failed or an import was refused (the message
names the files), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import warnings
from pathlib import Path

from skinfindings.data.licenses import check_licences, name_files
from skinfindings.data.manifest import Manifest, ManifestError, Record, read_manifest, write_manifest

IMPORT_KINDS = ("manifest", "folder", "roboflow", "yolo", "coco", "scin")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skinfindings data", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    imp = commands.add_parser("import", help="import a data set layout into a manifest (licence gate applied)")
    imp.add_argument("kind", choices=IMPORT_KINDS)
    imp.add_argument("src", nargs="+", type=Path, help="export folder, manifest CSV, COCO JSON or SCIN cases CSV")
    imp.add_argument("--out", type=Path, required=True, help="folder for manifest.csv (images stay where they are)")
    imp.add_argument("--license", default="", help="licence where the export carries none (e.g. CC-BY-4.0)")
    imp.add_argument("--attribution", default="", help="text to show wherever these images or results appear")
    imp.add_argument("--source", default="", help="data set name")
    imp.add_argument("--url", default="", help="where the data set came from")
    imp.add_argument("--mapping", type=Path, help="class name -> finding / none / ignore (CSV 'class,finding' or JSON)")
    imp.add_argument("--group-pattern", default="", help=r"regex on the file name giving the group, e.g. '^(PAT_\d+)_'")
    imp.add_argument("--absent-negative", action="store_true",
                     help="folder/scin: a finding that has a folder (or a mapped condition) but is not named "
                          "for a photo is absent (0), not unknown")
    imp.add_argument("--labels", type=Path, help="folder: CSV with path + finding columns instead of sub-folders")
    _gate_flags(imp)

    check = commands.add_parser("check", help="licence gate + checksums + group leaks (+ near-duplicates)")
    check.add_argument("manifest", type=Path)
    _gate_flags(check)
    check.add_argument("--dedup", action="store_true", help="also fail on near-duplicate photos across splits")
    check.add_argument("--max-distance", type=int, default=None, help="pHash bits for --dedup")

    stats = commands.add_parser("stats", help="counts per finding, split, skin tone, licence")
    stats.add_argument("manifest", type=Path)
    stats.add_argument("--by", action="append", default=[], help="also count this column (repeatable)")

    card = commands.add_parser("card", help="write the Markdown dataset card")
    card.add_argument("manifest", type=Path)
    card.add_argument("--out", type=Path, required=True)
    card.add_argument("--title", default="Dataset card")
    card.add_argument("--by", action="append", default=[], help="also count this column (repeatable)")
    card.add_argument("--note", action="append", default=[], help="a line for the card's summary (repeatable)")

    split = commands.add_parser("split", help="assign train/val/test (or k folds) by group")
    split.add_argument("manifest", type=Path)
    split.add_argument("--out", type=Path, help="where to write (default: the manifest itself)")
    split.add_argument("--fractions", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    split.add_argument("--folds", type=int, help="k grouped cross-validation folds, written to a 'fold' column")
    split.add_argument("--seed", type=int, default=0)
    split.add_argument("--stratify", action="store_true", help="also balance positives per finding")

    dedup = commands.add_parser("dedup", help="near-duplicate photos (perceptual hash)")
    dedup.add_argument("manifest", type=Path)
    dedup.add_argument("--max-distance", type=int, default=None, help="pHash bits (default: the module's)")
    dedup.add_argument("--all", action="store_true", help="also act on pairs within one split")
    action = dedup.add_mutually_exclusive_group()
    action.add_argument("--remove", action="store_true", help="drop one photo per pair (train copy first)")
    action.add_argument("--merge-groups", action="store_true", help="put both photos of a pair in one group")
    action.add_argument("--calibrate", action="store_true", help="distances between photos vs. made copies")
    dedup.add_argument("--out", type=Path, help="where --remove / --merge-groups write (default: the manifest)")

    download = commands.add_parser("download", help="fetch the files a manifest lists by URL, verified")
    download.add_argument("manifest", type=Path)
    return parser


def _gate_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-non-commercial", action="store_true",
                        help="accept CC-BY-NC-* images (a model trained on them is non-commercial)")
    parser.add_argument("--allow-private", action="store_true",
                        help="accept LicenseRef-Private-Consented clinic photos (the model must not be published)")


def _save(records: list[Record], root: Path, out: Path) -> Path:
    """Write records read relative to ``root`` so their paths stay right from ``out``'s folder."""
    from skinfindings.data.importers import absolute, relative_to

    return write_manifest(out, relative_to(absolute(records, root), out.parent))


def _licence_gate(manifest: Manifest, args: argparse.Namespace):
    return check_licences(manifest, allow_non_commercial=args.allow_non_commercial, allow_private=args.allow_private)


def _describe_gate(report) -> str:
    licences = ", ".join(f"{licence} {n}" for licence, n in report.licences.items())
    marks = (" -> NON-COMMERCIAL" if report.non_commercial else "") + (" -> PRIVATE" if report.private else "")
    return f"licences ok: {licences}{marks}"


def cmd_import(args: argparse.Namespace) -> int:
    from skinfindings.data.importers import (IMPORTERS, ClassMap, ImportOptions, load_class_map, merge, relative_to,
                                             scraped_name_warnings)

    class_map = load_class_map(args.mapping) if args.mapping else ClassMap()
    options = ImportOptions(source=args.source, license=args.license, attribution=args.attribution,
                            upstream_url=args.url, class_map=class_map, group_pattern=args.group_pattern,
                            absent_is_negative=args.absent_negative, labels_csv=args.labels, progress=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = merge([IMPORTERS[args.kind](src, options) for src in args.src])
    report = _licence_gate(Manifest(Path("/"), records), args)
    for warning in [str(w.message) for w in caught] + scraped_name_warnings(records):
        print(f"warning: {warning}", file=sys.stderr)
    out = args.out / "manifest.csv"
    write_manifest(out, relative_to(records, args.out))
    print(f"import: {len(records)} images -> {out}; {_describe_gate(report)}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from skinfindings.data.importers import verify_checksums
    from skinfindings.data.splits import group_leaks

    manifest = read_manifest(args.manifest)
    failures = []
    try:
        print(_describe_gate(_licence_gate(manifest, args)))
    except ManifestError as error:
        failures.append(str(error))
    try:
        verify_checksums(manifest, progress=True)
        print(f"checksums ok: {len(manifest)} files present and unchanged")
    except ManifestError as error:
        failures.append(str(error))
    leaks = group_leaks(manifest.records)
    if leaks:
        failures.append(f"{len(leaks)} group(s) or file(s) in more than one split (re-run `data split`): "
                        + name_files([f"{key} in {'/'.join(splits)}" for key, splits in leaks.items()]))
    if args.dedup:
        pairs = _duplicate_pairs(manifest, args.max_distance, failures)
        crossing = [p for p in pairs if p.cross_split]
        if crossing:
            failures.append(f"{len(crossing)} near-duplicate pair(s) across splits (run `data dedup`): "
                            + name_files([_pair_text(manifest, p) for p in crossing]))
        else:
            print(f"near-duplicates across splits: none ({len(pairs)} within a split)")
    for failure in failures:
        print(f"check failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _duplicate_pairs(manifest: Manifest, max_distance: int | None, failures: list[str]):
    from skinfindings.data.dedup import DEFAULT_MAX_DISTANCE, find_duplicates, hash_manifest

    hashes = hash_manifest(manifest, progress=True)
    if hashes.unreadable:
        unreadable = [f"{manifest.records[i].path} ({why})" for i, why in hashes.unreadable.items()]
        failures.append(f"{len(unreadable)} photo(s) cannot be read: {name_files(unreadable)}")
    return find_duplicates(manifest, hashes, DEFAULT_MAX_DISTANCE if max_distance is None else max_distance)


def _pair_text(manifest: Manifest, pair) -> str:
    a, b = manifest.records[pair.first], manifest.records[pair.second]
    return f"{a.path} ({a.split or '-'}) ~ {b.path} ({b.split or '-'}), {pair.distance} bits"


def cmd_stats(args: argparse.Namespace) -> int:
    from skinfindings.data.card import card_tables, text_table

    manifest = read_manifest(args.manifest)
    print(f"{args.manifest}: {len(manifest)} images\n")
    print("\n\n".join(text_table(t) for t in card_tables(manifest, args.by)))
    return 0


def cmd_card(args: argparse.Namespace, argv: list[str]) -> int:
    from skinfindings.data.card import render_card

    manifest = read_manifest(args.manifest)
    # One option per line, so a long command stays readable in the card and can be pasted into a shell.
    parts = ["skinfindings data"] + [("\\\n  " if arg.startswith("--") else "") + shlex.quote(arg) for arg in argv]
    command = " ".join(parts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_card(manifest, args.title, command, args.by, args.note), encoding="utf-8")
    print(f"card: {len(manifest)} images -> {args.out}")
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from skinfindings.data.splits import assign_splits, grouped_folds

    manifest = read_manifest(args.manifest)
    if args.folds:
        folds = grouped_folds(manifest.records, args.folds, seed=args.seed, stratify=args.stratify)
        records = [dataclasses.replace(r, extra={**r.extra, "fold": str(f)}) for r, f in zip(manifest.records, folds)]
        summary = ", ".join(f"fold {k}: {folds.count(k)}" for k in range(args.folds))
    else:
        records = assign_splits(manifest.records, tuple(args.fractions), seed=args.seed, stratify=args.stratify)
        summary = ", ".join(f"{s}: {sum(r.split == s for r in records)}" for s in ("train", "val", "test"))
    out = _save(records, manifest.root, args.out or args.manifest)
    print(f"split: {summary} images -> {out}")
    return 0


def cmd_dedup(args: argparse.Namespace) -> int:
    from skinfindings.data.dedup import merge_groups, remove_duplicates

    manifest = read_manifest(args.manifest)
    if args.calibrate:
        return _print_calibration(manifest)
    failures: list[str] = []
    pairs = _duplicate_pairs(manifest, args.max_distance, failures)
    for failure in failures:
        print(f"dedup: {failure}", file=sys.stderr)
    print(f"dedup: {len(pairs)} near-duplicate pair(s), {sum(p.cross_split for p in pairs)} across splits")
    for pair in pairs:
        print(("  ACROSS  " if pair.cross_split else "  within  ") + _pair_text(manifest, pair))
    acted_on = pairs if args.all else [p for p in pairs if p.cross_split]
    if args.remove:
        records = remove_duplicates(manifest.records, acted_on, cross_split_only=False)
    elif args.merge_groups:
        records = merge_groups(manifest.records, acted_on)
    else:
        return 0
    out = _save(records, manifest.root, args.out or args.manifest)
    print(f"dedup: {len(manifest) - len(records)} removed, {len(records)} images -> {out}")
    return 0


def _print_calibration(manifest: Manifest) -> int:
    import numpy as np

    from skinfindings.data.dedup import DEFAULT_MAX_DISTANCE, calibrate

    result = calibrate(manifest, progress=True)
    nearest = np.array(result.different_photos)
    print(f"pHash distance (bits of 63) on {len(nearest)} photos; threshold now {DEFAULT_MAX_DISTANCE}")
    print(f"  nearest other photo:       min {nearest.min()}, 5th percentile {np.percentile(nearest, 5):.0f}, "
          f"median {np.median(nearest):.0f}, at or under threshold: {(nearest <= DEFAULT_MAX_DISTANCE).sum()}")
    for kind, values in result.copies.items():
        values = np.array(values)
        print(f"  copy, {kind:<24} median {np.median(values):.0f}, max {values.max()}, "
              f"caught: {(values <= DEFAULT_MAX_DISTANCE).sum()} of {len(values)}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from skinfindings.data.download import download_manifest

    report = download_manifest(read_manifest(args.manifest), progress=True)
    print(f"download: {len(report.downloaded)} fetched, {len(report.already_present)} already present and verified, "
          f"{len(report.failed)} failed")
    for path, reason in report.failed.items():
        print(f"  failed {path}: {reason}", file=sys.stderr)
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    handlers = {"import": cmd_import, "check": cmd_check, "stats": cmd_stats, "split": cmd_split,
                "dedup": cmd_dedup, "download": cmd_download}
    try:
        if args.command == "card":
            return cmd_card(args, argv)
        return handlers[args.command](args)
    except (ManifestError, ValueError) as error:
        print(f"data {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
