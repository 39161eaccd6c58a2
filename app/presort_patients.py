"""Pre-sort by patient: which photo belongs to whom and on which day, and each patient's trends.

Two ways in, both read into one ``PatientTable``:

* ``--patients map.csv`` with columns ``file,patient`` and ``day`` (days since the treatment) or ``date`` plus
  ``treatment_date`` (both YYYY-MM-DD); an optional ``treatment`` column (microneedling, fractional_laser,
  halo_laser) overrides ``--treatment``.
* ``--patient-folders``: every folder directly inside a given folder is one patient; an optional ``days.csv``
  in it gives ``file`` with ``day`` or ``date`` + ``treatment_date`` (and ``treatment``) per photo.

The trends themselves come from ``app/trends.py``, the same module as the patient's own
"Track my recovery" view, and the priority rule from ``app/priority.py``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

from skinfindings.app import guidance, trends
from skinfindings.app.presort_rows import SortRow

DAYS_FILE = "days.csv"  # a patient folder's own list of days; never sorted as a photo
TREATMENTS = tuple(key for key in guidance.guidance().procedures if key != guidance.UNKNOWN_PROCEDURE)


@dataclass(frozen=True)
class PatientEntry:
    patient: str
    day: int | None  # None: no day given; the photo is listed with the patient but is not on the timeline
    treatment: str | None


@dataclass
class PatientTable:
    by_name: dict[str, PatientEntry] = field(default_factory=dict)  # photo name (full or file name alone)
    by_folder: dict[str, PatientEntry] = field(default_factory=dict)  # folder prefix -> patient, for photos not listed
    sources: list[Path] = field(default_factory=list)  # the CSV files read (kept out of the photos)

    def lookup(self, name: str) -> PatientEntry | None:
        entry = self.by_name.get(name) or self.by_name.get(PurePosixPath(name).name)
        if entry is not None:
            return entry
        folders = [prefix for prefix in self.by_folder if name.startswith(prefix)]
        return self.by_folder[max(folders, key=len)] if folders else None

    def unmatched(self, rows: Sequence[SortRow]) -> list[str]:
        """Names in a map that matched no photo: a typo there would drop a photo from its patient's timeline."""
        names = {r.name for r in rows} | {PurePosixPath(r.name).name for r in rows}
        return sorted(n for n in self.by_name if n not in names)

    def unmatched_warning(self, rows: Sequence[SortRow]) -> str | None:
        """The one warning about unmatched names, worded the same in the CLI and the app; None when all matched."""
        missing = self.unmatched(rows)
        if not missing:
            return None
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        return f"days given for {len(missing)} name(s) that matched no photo: {shown}"


def check_treatment(value: str | None, where: str) -> str | None:
    value = (value or "").strip() or None
    if value is not None and value not in TREATMENTS:
        raise ValueError(f"{where}: unknown treatment {value!r}; known: {', '.join(TREATMENTS)}")
    return value


def _day(record: dict[str, str], photo: str, where: str) -> int | None:
    try:
        if (record.get("day") or "").strip():
            return trends.check_day(record["day"], photo)
        if (record.get("date") or "").strip():
            treated = trends.parse_date(record.get("treatment_date") or "", "the treatment_date")
            return trends.day_between(treated, trends.parse_date(record["date"], "the date"), photo)
    except trends.DayError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return None


def _records(path: Path, required: set[str]) -> Iterable[tuple[str, dict[str, str]]]:
    """(where, record) per row that names a file; a file named twice is refused with both lines (the later
    line would otherwise silently win), and an unreadable CSV is a ValueError naming its line."""
    seen: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        try:
            columns = set(reader.fieldnames or [])
            if not required <= columns or not {"day", "date"} & columns:
                raise ValueError(f"{path}: needs columns {', '.join(sorted(required))} and 'day' or 'date'; has "
                                 f"{reader.fieldnames}")
            for record in reader:
                line = reader.line_num
                name = (record.get("file") or "").strip()
                if not name:
                    continue
                if name in seen:
                    raise ValueError(f"{path} lines {seen[name]} and {line}: {name!r} is listed twice; give each "
                                     "photo one line")
                seen[name] = line
                yield f"{path} line {line}", record
        except csv.Error as exc:
            raise ValueError(f"{path} line {reader.line_num}: not a readable CSV ({exc})") from None


def read_patient_map(path: str | os.PathLike, treatment: str | None = None) -> PatientTable:
    """``--patients map.csv``: file,patient,day (or date + treatment_date)[,treatment]."""
    path = Path(path)
    table = PatientTable(sources=[path])
    for where, record in _records(path, {"file", "patient"}):
        name, patient = record["file"].strip(), (record["patient"] or "").strip()
        if not patient:
            raise ValueError(f"{where}: no patient given for {name}")
        table.by_name[name] = PatientEntry(patient, _day(record, name, where),
                                           check_treatment(record.get("treatment"), where) or treatment)
    return table


def folder_patients(paths: Iterable[str | os.PathLike], treatment: str | None = None) -> PatientTable:
    """``--patient-folders``: each folder inside a given folder is a patient; its days.csv is optional."""
    table = PatientTable()
    for raw in paths:
        top = Path(raw)
        if not top.is_dir():
            continue
        for folder in sorted(p for p in top.iterdir() if p.is_dir() and not p.name.startswith(".")):
            prefix = (PurePosixPath(top.name) / folder.name).as_posix() + "/"  # as collect_inputs names them
            table.by_folder[prefix] = PatientEntry(folder.name, None, treatment)
            days = folder / DAYS_FILE
            if days.is_file():
                table.sources.append(days)
                _read_days_file(days, prefix, folder.name, treatment, table)
    return table


def _read_days_file(path: Path, prefix: str, patient: str, treatment: str | None, table: PatientTable) -> None:
    for where, record in _records(path, {"file"}):
        name = record["file"].strip()
        entry = PatientEntry(patient, _day(record, name, where),
                             check_treatment(record.get("treatment"), where) or treatment)
        table.by_name[prefix + name] = entry  # names in a folder's file are relative to it


# ----------------------------------------------------------------------------- trends


def patient_trends(rows: Sequence[SortRow]) -> dict[str, trends.Series]:
    """One series per patient, from the rows that have a day (rows must already carry patient and day)."""
    groups: dict[str, list[SortRow]] = {}
    for row in rows:
        if row.patient is not None and row.day is not None:
            groups.setdefault(row.patient, []).append(row)
    series = {}
    for patient, group in sorted(groups.items()):
        treatment = next((r.treatment for r in group if r.treatment), None)  # the first one given
        series[patient] = trends.analyse_series([(r.day, r) for r in group], treatment)
    return series


def assign_patients(rows: Sequence[SortRow], table: PatientTable) -> dict[str, trends.Series]:
    """Set each row's patient, day and trend columns; returns the series by patient for the worklist."""
    for row in rows:
        entry = table.lookup(row.name)
        if entry is not None:
            row.patient, row.day, row.treatment = entry.patient, entry.day, entry.treatment
    series = patient_trends(rows)
    for row in rows:
        if row.patient in series:
            row.trend_flags = series[row.patient].escalating
            row.trend = {f: t.verdict.kind for f, t in series[row.patient].trends.items()}
            row.trend_day = series[row.patient].latest_day
    return series
