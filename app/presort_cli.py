"""skinfindings sort PATH... --out report.csv [--html report.html] [--red-flags flags.csv] [--patients map.csv]

The command line of the clinician pre-sort (``app/presort.py`` does the work)."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Sequence

from skinfindings.app.output_paths import OutputPathError, check_outputs
from skinfindings.app.presort import model_id, presort, read_red_flags, unmatched_red_flags
from skinfindings.app.presort_html import write_html
from skinfindings.app.presort_patients import TREATMENTS, PatientTable, folder_patients, read_patient_map
from skinfindings.app.presort_rows import CSV_COLUMNS, SortRow, write_csv
from skinfindings.app.priority import RED_FLAGS, TIER_BY_KEY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="skinfindings sort",
        description="Clinician pre-sort: photos, folders and .zip archives in; a prioritised CSV (and HTML worklist) out.")
    parser.add_argument("paths", nargs="+", help="photo files, folders (recursive) or .zip archives")
    parser.add_argument("--out", required=True, type=Path, help="report CSV (also the resume journal)")
    parser.add_argument("--html", type=Path, help="also write an HTML worklist with thumbnails")
    parser.add_argument("--red-flags", type=Path,
                        help=f"CSV 'name,red_flags' (flags ';'-separated, from: {', '.join(RED_FLAGS)})")
    parser.add_argument("--patients", type=Path,
                        help="CSV 'file,patient,day' (or 'date' + 'treatment_date', optional 'treatment'): "
                             "groups photos by patient and adds trend columns")
    parser.add_argument("--patient-folders", action="store_true",
                        help="each folder inside a given folder is one patient; an optional days.csv in it gives "
                             "'file,day' (or 'date' + 'treatment_date')")
    parser.add_argument("--treatment", choices=TREATMENTS,
                        help="the treatment of every patient, unless a 'treatment' column says otherwise")
    parser.add_argument("--checkpoint", help="checkpoint .json (default: the shipped model)")
    parser.add_argument("--restart", action="store_true", help="ignore rows already in --out and sort everything again")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    try:
        return _run(args)
    except KeyboardInterrupt:
        # Rows done so far are in --out already (the resume journal): nothing is lost.
        print("\nskinfindings sort: interrupted — run the same command again to resume", file=sys.stderr)
        return 130


def _run(args) -> int:
    from skinfindings.model.checkpoint import DEFAULT_CHECKPOINT
    from skinfindings.model.predictor import Predictor

    try:
        check_outputs(args.out, args.html, args.paths, [args.red_flags, args.patients],
                      csv_header=",".join(CSV_COLUMNS[:2]))
        red_flags = read_red_flags(args.red_flags) if args.red_flags else {}
        patients = _patients(args)
    except (OSError, ValueError) as exc:  # OutputPathError is a ValueError
        print(f"skinfindings sort: {exc}", file=sys.stderr)
        return 2
    except csv.Error as exc:
        print(f"skinfindings sort: a list given could not be read as CSV ({exc})", file=sys.stderr)
        return 2
    if args.restart and args.out.exists():
        args.out.unlink()
    predictor = Predictor(args.checkpoint or DEFAULT_CHECKPOINT)
    note = _model_note(predictor)
    if not predictor.meta.trained:
        print(f"warning: {note}", file=sys.stderr)
    own_files = [p for p in (args.out, args.html, args.red_flags, args.patients,
                             args.out.with_name(args.out.name + ".partial")) if p]
    try:
        rows = presort(predictor, args.paths, red_flags, progress=not args.no_progress, resume_from=args.out,
                       thumbnails=args.html is not None, exclude=own_files, patients=patients)
    except (FileNotFoundError, ValueError) as exc:
        print(f"skinfindings sort: {exc}", file=sys.stderr)
        return 2
    except csv.Error as exc:
        print(f"skinfindings sort: {args.out} could not be read back to resume ({exc}); "
              "use --restart to sort everything again", file=sys.stderr)
        return 2
    write_csv(rows, args.out)
    if args.html:
        write_html(rows, args.html, model_note=note)
    _summary(rows, red_flags, args)
    warning = patients.unmatched_warning(rows)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _patients(args) -> PatientTable:
    if args.patients and args.patient_folders:
        raise ValueError("give either --patients or --patient-folders, not both")
    if args.patients:
        return read_patient_map(args.patients, args.treatment)
    if args.patient_folders:
        return folder_patients(args.paths, args.treatment)
    return PatientTable()


def _model_note(predictor) -> str:
    meta = predictor.meta
    state = "trained" if meta.trained else "NOT TRAINED"
    return f"{model_id(predictor)} ({state}; {meta.status})"


def _summary(rows: Sequence[SortRow], red_flags: dict[str, set[str]], args) -> None:
    counts = ", ".join(f"{sum(r.tier.key == key for r in rows)} {key}" for key in TIER_BY_KEY)
    print(f"{len(rows)} photos sorted ({counts}) -> {args.out}" + (f", {args.html}" if args.html else ""))
    reused = sum(r.reused for r in rows)  # issue 22: a rerun says what it took from the earlier run
    if reused:
        print(f"{reused} of {len(rows)} rows reused from the earlier run in {args.out} (--restart sorts all again)")
    moved = sorted({r.patient for r in rows if r.trend_flags})
    if moved:
        print(f"{len(moved)} patient(s) moved up to review by a rising or late finding: {', '.join(moved)}")
    missing = unmatched_red_flags(red_flags, rows)
    if missing:
        print(f"warning: red flags given for {len(missing)} name(s) that matched no photo: {', '.join(missing)}",
              file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
