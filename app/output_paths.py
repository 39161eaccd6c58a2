"""One rule for the files ``skinfindings sort`` writes: never over a file it did not write, known before any work.

An output (``--out``, ``--html``) is refused when it is

* a folder (``--out reports/`` : give a file name in it);
* one of the inputs: a photo, an archive or a file inside a given folder, the patients or
  red-flags list;
* another output, or the resume journal (``--out`` + ``.partial``);
* an existing file that is not the kind this command writes there (a pre-sort CSV for
  ``--out``, an HTML page for ``--html``).

Missing parent folders are created, before the run, so that a long run never fails at its end.

    outputs = check_outputs(out, html, inputs=[...], lists=[patients, red_flags])   # OutputPathError
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

HTML_SUFFIXES = (".html", ".htm")


class OutputPathError(ValueError):
    """An output path the command refuses; the message says which and why."""


@dataclass(frozen=True)
class Outputs:
    out: Path
    html: Path | None

    @property
    def journal(self) -> Path:
        """Where the CSV is written before it replaces ``out`` (presort_rows.write_csv)."""
        return self.out.with_name(self.out.name + ".partial")


def check_outputs(out: str | os.PathLike, html: str | os.PathLike | None, inputs: Iterable[str | os.PathLike],
                  lists: Iterable[str | os.PathLike | None] = (), csv_header: str = "") -> Outputs:
    """The outputs, checked (see the module docstring) and with their folders created; OutputPathError if refused.

    ``inputs`` are the paths given to read (files or folders); ``lists`` the CSV lists read beside them;
    ``csv_header`` the start of the first line of a CSV this command wrote (an existing ``--out`` must have it).
    """
    outputs = Outputs(Path(out), Path(html) if html is not None else None)
    given = [Path(p) for p in inputs]
    taken = {_key(p): f"the list {p}" for p in lists if p is not None}
    taken[_key(outputs.journal)] = f"the resume journal of --out ({outputs.journal.name})"
    for flag, path in (("--out", outputs.out), ("--html", outputs.html)):
        if path is None:
            continue
        _refuse_folder(flag, path)
        if _key(path) in taken:
            raise OutputPathError(f"{flag} {path} is {taken[_key(path)]}; choose another file name")
        ours = _is_ours(flag, path, csv_header)
        _refuse_input(flag, path, given, ours)
        if path.exists() and not ours:
            kind = "a pre-sort CSV" if flag == "--out" else "an HTML page (.html)"
            raise OutputPathError(f"{flag} {path} exists and is not {kind}; it is left alone. Choose a new file name")
        taken[_key(path)] = f"also {flag}"
    for path in (outputs.out, outputs.html):
        if path is not None:
            _create_parent(path)
    return outputs


def _key(path: Path) -> Path:
    return Path(os.path.abspath(path)).resolve()


def _refuse_folder(flag: str, path: Path) -> None:
    if path.is_dir():
        example = path / ("report.html" if flag == "--html" else "report.csv")
        raise OutputPathError(f"{flag} {path} is a folder; give a file name in it, such as {example}")


def _refuse_input(flag: str, path: Path, given: list[Path], ours: bool) -> None:
    """A given file, or a file inside a given folder that this command did not write."""
    target = _key(path)
    for source in given:
        source_key = _key(source)
        inside = source.is_dir() and source_key in target.parents and path.exists() and not ours
        if target == source_key or inside:
            raise OutputPathError(f"{flag} {path} is one of the inputs ({source}); it would be overwritten. "
                                  "Choose another file name")


def _is_ours(flag: str, path: Path, csv_header: str) -> bool:
    """Whether an existing file is what this command writes there (a new file counts as ours)."""
    if not path.exists():
        return True
    if flag == "--html":
        return path.suffix.lower() in HTML_SUFFIXES
    return path.is_file() and _starts_with(path, csv_header)


def _starts_with(path: Path, header: str) -> bool:
    try:
        with open(path, "rb") as handle:
            start = handle.read(len(header.encode()) + 3)
    except OSError:
        return False
    return start.removeprefix(b"\xef\xbb\xbf").startswith(header.encode()) or path.stat().st_size == 0


def _create_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot create the folder {path.parent} for {path.name}: {exc.strerror}") from None
    if not path.parent.is_dir():
        raise OutputPathError(f"{path.parent} is not a folder, so {path.name} cannot be written there")
