"""Importers: common data set layouts in, one manifest out; plus the checksum check.

    skinfindings data import folder ./photos --out runs/data/mine --license CC-BY-4.0 --source "My clinic"
    skinfindings data import manifest /path/to/real/manifest.csv --out runs/data/real

Each importer reads one layout and returns Records with absolute paths and checksums:

    manifest  a manifest already (the synthetic renderer's output, the bundled real set)
    folder    ImageFolder: one sub-folder per finding (or "none"), or --labels CSV with finding columns
    roboflow  Roboflow classification export (``_classes.csv`` per split)
    yolo      YOLO detection export (``data.yaml`` / ``classes.txt``, ``images/`` + ``labels/``)
    coco      COCO detection export (``_annotations.coco.json`` or any COCO JSON)
    scin      SCIN-style CSV (``scin_cases.csv`` [+ ``scin_labels.csv``]): one row per case, several images

Labels are never invented. A finding is 1 when the export marks it, 0 only when the export says it was
looked for and is absent (a detection or classification class that maps to it, a "none" class), and
unknown otherwise. Class names map to findings through a mapping file (``--mapping``, CSV or JSON:
class -> finding / none / ignore); names equal to a finding map to it without one.

Licence, attribution, source and URL come from the export where it carries them (Roboflow's
README.dataset.txt, COCO's ``licenses``); the user's flags fill what is missing. A flag that contradicts
the export is an error, so a licence can never be overwritten by a command-line flag.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from skinfindings.data.licenses import name_files, normalise_license
from skinfindings.data.manifest import (FITZPATRICK_TYPES, Manifest, ManifestError, Record, csv_records, csv_rows,
                                        read_manifest, sha256_file)
from skinfindings.findings import FINDINGS

PATH_COLUMNS = ("mask",)  # extra columns holding file paths (the synthetic renderer's masks): moved with `path`
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp", ".heic", ".heif")
NONE, IGNORE = "none", "ignore"  # mapping targets besides the findings
# Roboflow names augmented copies "<stem>_<ext>.rf.<hash>.<ext>": every copy of one source image shares <stem>_<ext>.
ROBOFLOW_COPY = re.compile(r"^(?P<source>.+_(?:jpe?g|png|webp|bmp|gif|tiff?|heic))\.rf\.[0-9a-zA-Z]+\.\w+$",
                           re.IGNORECASE)
# File names that suggest images scraped from stock or reference sites, whatever licence the export claims.
SCRAPED_NAME_HINTS = ("dermnet", "getty", "shutterstock", "istock", "alamy", "dreamstime", "depositphotos",
                      "adobestock", "webmd", "healthline", "pinterest", "123rf", "bigstock")


@dataclass
class ClassMap:
    """Class name (case and separators ignored) -> finding, "none" (no finding at all) or "ignore"."""

    mapping: dict[str, str] = field(default_factory=dict)

    def target(self, name: str) -> str:
        key = class_key(name)
        if key in self.mapping:
            return self.mapping[key]
        if key in FINDINGS or key == NONE:
            return key
        raise KeyError(name)

    def resolve(self, names: list[str], what: str, used: set[str] | None = None) -> dict[str, str]:
        """Targets for every class name. An unmapped class that occurs (``used``, default all) is an error
        naming it; one that never occurs is ignored (Roboflow adds an unused dataset-level class)."""
        targets, unmapped = {}, []
        for name in names:
            try:
                targets[name] = self.target(name)
            except KeyError:
                if used is None or name in used:
                    unmapped.append(name)
                targets[name] = IGNORE
        if unmapped:
            raise ManifestError(
                f"{what}: class(es) {sorted(unmapped)} map to no finding. Write a mapping file (--mapping, CSV "
                f"'class,finding') that maps each to one of {list(FINDINGS)}, '{NONE}' or '{IGNORE}'.")
        return targets


@dataclass
class ImportOptions:
    source: str = ""  # data set name
    license: str = ""  # used where the export carries none
    attribution: str = ""
    upstream_url: str = ""
    class_map: ClassMap = field(default_factory=ClassMap)
    group_pattern: str = ""  # regex on the file name; its first group (or the match) is the group id
    # folder / scin: a finding that has a folder (a mapped condition) but is not named for a photo is absent
    absent_is_negative: bool = False
    labels_csv: Path | None = None  # folder: labels from this CSV (path + finding columns) instead of sub-folders
    progress: bool = False


@dataclass
class Carried:
    """What the export itself says about its provenance."""

    license: str = ""
    attribution: str = ""
    upstream_url: str = ""
    source: str = ""


def class_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


def load_class_map(path: str | Path) -> ClassMap:
    """Mapping file: JSON object, or CSV rows ``class,finding`` (a header row is optional)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        pairs = list(json.loads(path.read_text(encoding="utf-8")).items())
    else:
        pairs = [(row[0], row[1]) for row in csv_rows(path) if len(row) >= 2 and not row[0].startswith("#")]
        if pairs and class_key(pairs[0][0]) == "class":
            pairs = pairs[1:]
    allowed = (*FINDINGS, NONE, IGNORE)
    bad = [f"{name} -> {target}" for name, target in pairs if class_key(target) not in allowed]
    if bad:
        raise ManifestError(f"{path}: unknown target(s) {bad}; use one of {list(allowed)}")
    return ClassMap({class_key(name): class_key(target) for name, target in pairs})


def roboflow_source(file_name: str) -> str | None:
    """The source image an augmented Roboflow copy was made from, or None for other names."""
    match = ROBOFLOW_COPY.match(file_name)
    return match["source"] if match else None


def _group(path: Path, options: ImportOptions, given: str = "") -> str:
    """Group id: the export's own (patient, case), else the pattern, else Roboflow's source image, else the file."""
    if given:
        return given
    if options.group_pattern:
        match = re.search(options.group_pattern, path.name)
        if match:
            return match.group(1) if match.groups() else match.group(0)
    return roboflow_source(path.name) or path.stem


def _labels(positives: set[str], looked_for: set[str]) -> dict[str, int | None]:
    return {f: 1 if f in positives else (0 if f in looked_for else None) for f in FINDINGS}


def _labels_from_classes(classes: set[str], targets: dict[str, str], all_classes_looked_for: bool) -> dict:
    """Image-level labels from the class names present on an image.

    ``all_classes_looked_for``: the export was annotated for every class it lists, so a mapped
    finding without its class on this image is absent (detection and multi-label classification)."""
    hits = {targets[c] for c in classes}
    positives = hits & set(FINDINGS)
    if NONE in hits:
        looked_for = set(FINDINGS)
    elif all_classes_looked_for:
        looked_for = set(targets.values()) & set(FINDINGS)
    else:
        looked_for = set()
    return _labels(positives, looked_for)


def _fitzpatrick(text: str) -> str:
    """I..VI from "III", "3", "FST3", "type 3"; empty when not one of those."""
    value = re.sub(r"^(fst|type|fitzpatrick)\s*", "", (text or "").strip().lower()).upper()
    if value in FITZPATRICK_TYPES:
        return value
    if value.isdigit() and 1 <= int(value) <= len(FITZPATRICK_TYPES):
        return FITZPATRICK_TYPES[int(value) - 1]
    return ""


def _stamp(record: Record, carried: Carried, options: ImportOptions) -> Record:
    """Fill provenance from the export, then from the user's flags; a contradicting licence is an error."""
    export_licence = normalise_license(record.license or carried.license)
    flag_licence = normalise_license(options.license)
    if export_licence and flag_licence and export_licence != flag_licence:
        raise ManifestError(
            f"{Path(record.path).name}: the export says licence {export_licence}, --license says {flag_licence}. "
            "A flag cannot replace the licence an export carries; fix the export or leave the flag out.")
    return dataclasses.replace(
        record,
        license=export_licence or flag_licence,
        attribution=record.attribution or carried.attribution or options.attribution,
        upstream_url=record.upstream_url or carried.upstream_url or options.upstream_url,
        source=record.source or carried.source or options.source,
    )


def _images_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _missing_files_error(what: str, missing: list[str]) -> ManifestError:
    return ManifestError(f"{what}: {len(missing)} image file(s) listed but not found: {name_files(missing)}")


def read_roboflow_readme(root: Path) -> Carried:
    """Licence and project URL from a Roboflow export's README.dataset.txt (absent: nothing carried)."""
    readme = root / "README.dataset.txt"
    if not readme.is_file():
        return Carried()
    text = readme.read_text(encoding="utf-8", errors="replace")
    licence = re.search(r"^License:\s*(.+)$", text, re.MULTILINE)
    url = re.search(r"^(https?://universe\.roboflow\.com/\S+)", text, re.MULTILINE)
    title = re.search(r"^#\s*(.+?)\s*(?:>.*)?$", text, re.MULTILINE)
    return Carried(license=licence[1].strip() if licence else "", upstream_url=url[1] if url else "",
                   source=f"Roboflow: {title[1]}" if title else "")


# --- importers: each takes (src, options) and returns Records with absolute paths -------------------------


def import_manifest(src: str | Path, options: ImportOptions) -> list[Record]:
    """A manifest already (the synthetic renderer's, the real set's): validate, normalise, rebase paths."""
    manifest = read_manifest(src)
    records = []
    for record in absolute(manifest.records, manifest.root):
        path = Path(record.path)
        resolved = dataclasses.replace(record, sha256=record.sha256.strip().lower(),
                                       group=_group(path, options, record.group),
                                       fitzpatrick=_fitzpatrick(record.fitzpatrick))
        records.append(_stamp(resolved, Carried(), options))
    missing = [r.path for r in records if not Path(r.path).is_file()]
    if missing:
        raise _missing_files_error(str(src), missing)
    # A recorded checksum must still match; rows without one (a hand-made manifest) get one now.
    verify_checksums(Manifest(Path("/"), [r for r in records if r.sha256]), progress=options.progress)
    unhashed = [r for r in records if not r.sha256]
    filled = iter(_checksums([Path(r.path) for r in unhashed], options.progress))
    return [r if r.sha256 else dataclasses.replace(r, sha256=next(filled)) for r in records]


def import_folder(src: str | Path, options: ImportOptions) -> list[Record]:
    """One sub-folder per finding (or "none"; other names via the mapping), or labels from --labels CSV.

    The same photo (same bytes) in several finding folders becomes one record with each finding positive.
    A folder says only that its finding is present; with ``absent_is_negative`` the photo's other
    findings count as looked for and absent."""
    root = Path(src)
    if options.labels_csv is not None:
        return _import_folder_csv(root, options)
    images = [p for p in _images_under(root) if p.parent != root]
    if not images:
        raise ManifestError(f"{root}: no images in sub-folders (expected {root}/<finding>/<photo>.jpg)")
    folder_of = {p: p.relative_to(root).parts[0] for p in images}
    targets = options.class_map.resolve(sorted(set(folder_of.values())), str(root))
    by_content: dict[str, tuple[Path, set[str]]] = {}
    for path, checksum in zip(images, _checksums(images, options.progress)):
        _, classes = by_content.setdefault(checksum, (path, set()))
        classes.add(folder_of[path])
    records = []
    for checksum, (path, classes) in by_content.items():
        labels = _labels_from_classes(classes, targets, options.absent_is_negative)
        record = Record(path=str(path.resolve()), sha256=checksum, labels=labels, group=_group(path, options),
                        extra={"upstream_class": ";".join(sorted(classes))})
        records.append(_stamp(record, Carried(), options))
    return records


def _import_folder_csv(root: Path, options: ImportOptions) -> list[Record]:
    """A folder of photos with a CSV of labels (``path`` + finding columns, optional group/fitzpatrick)."""
    table = read_manifest(options.labels_csv)
    records = []
    for row in table.records:
        path = (root / row.path).resolve()
        record = dataclasses.replace(row, path=str(path), group=_group(path, options, row.group),
                                     fitzpatrick=_fitzpatrick(row.fitzpatrick))
        records.append(_stamp(record, Carried(), options))
    return _with_checksums(records, str(options.labels_csv), options.progress)


def import_roboflow(src: str | Path, options: ImportOptions) -> list[Record]:
    """Roboflow classification export: ``_classes.csv`` (filename + one 0/1 column per class) per split."""
    root = Path(src)
    tables = sorted(root.rglob("_classes.csv"))
    if not tables:
        raise ManifestError(f"{root}: no _classes.csv (is this a Roboflow classification export?)")
    carried = read_roboflow_readme(root)
    records = []
    for table in tables:
        rows = [[cell.strip() for cell in row] for row in csv_rows(table) if row]
        header, rows = rows[0], rows[1:]
        used = {name for row in rows for name, value in zip(header[1:], row[1:]) if value == "1"}
        targets = options.class_map.resolve(header[1:], str(table), used)
        for row in rows:
            path = table.parent / row[0]
            classes = {name for name, value in zip(header[1:], row[1:]) if value == "1"}
            labels = _labels_from_classes(classes, targets, all_classes_looked_for=True)
            record = Record(path=str(path.resolve()), labels=labels, group=_group(path, options),
                            extra=_upstream_split(table.parent, root))
            records.append(_stamp(record, carried, options))
    return _with_checksums(records, str(root), options.progress)


def _upstream_split(folder: Path, root: Path) -> dict[str, str]:
    """The export's own split folder, kept for reference only: it is not grouped, so we re-split."""
    return {"upstream_split": folder.name} if folder != root else {}


def read_yolo_names(root: Path) -> list[str]:
    """Class names from data.yaml (``names:`` as a list, a block list or an index map) or classes.txt."""
    for name in ("classes.txt", "obj.names", "_darknet.labels"):
        path = root / name
        if path.is_file():
            return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        path = root / name
        if path.is_file():
            return _yaml_names(path)
    raise ManifestError(f"{root}: no data.yaml or classes.txt naming the YOLO classes")


def _yaml_names(path: Path) -> list[str]:
    """Just the ``names`` key of a YOLO data.yaml; the file's other keys are not needed."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        found = re.match(r"^names\s*:\s*(.*)$", line)
        if not found:
            continue
        inline = found[1].strip()
        if inline:
            return [str(name) for name in ast.literal_eval(inline)]
        names = {}
        for item in lines[index + 1:]:
            entry = re.match(r"^\s+(?:-\s*|(\d+)\s*:\s*)(.+?)\s*$", item)
            if not entry:
                break
            names[int(entry[1]) if entry[1] else len(names)] = entry[2].strip("'\"")
        return [names[i] for i in sorted(names)]
    raise ManifestError(f"{path} has no 'names:' entry")


def import_yolo(src: str | Path, options: ImportOptions) -> list[Record]:
    """YOLO detection export: image-level labels from the boxes' classes.

    An image without a label file, or with an empty one, is a background image: every mapped finding
    absent (the YOLO convention)."""
    root = Path(src)
    names = read_yolo_names(root)
    carried = read_roboflow_readme(root)
    images = [p for p in _images_under(root) if "images" in p.relative_to(root).parts]
    if not images:
        raise ManifestError(f"{root}: no images under an images/ folder")
    classes_of = {p: {names[i] for i in _yolo_class_ids(_yolo_label_path(p, root), len(names))} for p in images}
    targets = options.class_map.resolve(names, str(root), set().union(*classes_of.values()))
    records = []
    for path in images:
        labels = _labels_from_classes(classes_of[path], targets, all_classes_looked_for=True)
        split_folder = path.parent.parent if path.parent.name == "images" else root
        record = Record(path=str(path.resolve()), labels=labels, group=_group(path, options),
                        extra=_upstream_split(split_folder, root))
        records.append(_stamp(record, carried, options))
    return _with_checksums(records, str(root), options.progress)


def _yolo_label_path(image: Path, root: Path) -> Path:
    parts = list(image.relative_to(root).parts)
    index = len(parts) - 1 - parts[::-1].index("images")  # the last images/ folder on the path
    parts[index] = "labels"
    return (root / Path(*parts)).with_suffix(".txt")


def _yolo_class_ids(label_path: Path, n_classes: int) -> set[int]:
    if not label_path.is_file():
        return set()
    ids = set()
    for number, line in enumerate(label_path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                class_id = int(line.split()[0])
            except ValueError:
                raise ManifestError(f"{label_path}:{number}: not a YOLO label line: {line!r}") from None
            if not 0 <= class_id < n_classes:
                raise ManifestError(f"{label_path}:{number}: class {class_id} is not in the {n_classes} named classes")
            ids.add(class_id)
    return ids


def import_coco(src: str | Path, options: ImportOptions) -> list[Record]:
    """COCO detection export (a JSON file, or a folder of them): image-level labels from the annotations."""
    src = Path(src)
    files = [src] if src.is_file() else sorted(p for p in src.rglob("*.json") if _is_coco(p))
    if not files:
        raise ManifestError(f"{src}: no COCO annotation JSON (images / annotations / categories)")
    root = src if src.is_dir() else src.parent
    carried = read_roboflow_readme(root)
    records = []
    for path in files:
        records += _coco_records(path, root, carried, options)
    return _with_checksums(records, str(src), options.progress)


def _coco_licence(entry: dict) -> str:
    """A COCO licence entry's id: its Creative Commons URL when it has one, else its name."""
    from_url = normalise_license(entry.get("url") or "")
    return from_url if from_url.startswith(("CC", "PDDL")) else entry.get("name", "")


def _is_coco(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and {"images", "annotations", "categories"} <= set(data)


def _coco_records(path: Path, root: Path, carried: Carried, options: ImportOptions) -> list[Record]:
    data = json.loads(path.read_text(encoding="utf-8"))
    category = {c["id"]: c["name"] for c in data["categories"]}
    classes_of: dict[int, set[str]] = {image["id"]: set() for image in data["images"]}
    for annotation in data["annotations"]:
        classes_of[annotation["image_id"]].add(category[annotation["category_id"]])
    used = {name for names in classes_of.values() for name in names}
    targets = options.class_map.resolve(sorted(set(category.values())), str(path), used)
    licence_of = {entry["id"]: _coco_licence(entry) for entry in data.get("licenses", [])}
    carried = dataclasses.replace(carried, upstream_url=carried.upstream_url or (data.get("info") or {}).get("url", ""))
    records = []
    for image in data["images"]:
        file = path.parent / image["file_name"]
        labels = _labels_from_classes(classes_of[image["id"]], targets, all_classes_looked_for=True)
        record = Record(path=str(file.resolve()), labels=labels, group=_group(file, options),
                        license=licence_of.get(image.get("license"), ""),
                        upstream_url=image.get("coco_url") or image.get("flickr_url") or "",
                        extra=_upstream_split(path.parent, root))
        records.append(_stamp(record, carried, options))
    return records


SCIN_CONDITIONS = "dermatologist_skin_condition_on_label_name"
SCIN_FITZPATRICK = ("dermatologist_fitzpatrick_skin_type_label_1", "fitzpatrick_skin_type")
SCIN_MONK = "monk_skin_tone_label_us"


def import_scin(src: str | Path, options: ImportOptions) -> list[Record]:
    """SCIN-style CSV: one row per case (``case_id``, ``image_1_path`` .. ``image_3_path``), labels as a list
    of condition names (``dermatologist_skin_condition_on_label_name``) in the same CSV or in
    ``scin_labels.csv`` beside it. Conditions map to findings through the mapping; unmapped conditions
    say nothing about the findings. All images of a case share its group."""
    cases_csv = Path(src)
    cases = _read_rows(cases_csv)
    labels_csv = cases_csv.with_name("scin_labels.csv")
    if labels_csv.is_file() and labels_csv != cases_csv:
        by_case = {row["case_id"]: row for row in _read_rows(labels_csv)}
        cases = [{**by_case.get(row["case_id"], {}), **row} for row in cases]
    image_columns = sorted(c for c in (cases[0] if cases else {}) if re.fullmatch(r"image_\d+_path", c))
    if not image_columns or "case_id" not in cases[0]:
        raise ManifestError(f"{cases_csv}: a SCIN-style CSV needs case_id and image_<n>_path columns")
    unmapped: Counter[str] = Counter()
    mapped = set(options.class_map.mapping.values()) & set(FINDINGS)  # findings some condition stands for
    records, missing = [], []
    for row in cases:
        targets = set()
        for condition in _condition_list(row.get(SCIN_CONDITIONS, "")):
            try:
                targets.add(options.class_map.target(condition))
            except KeyError:
                unmapped[condition] += 1
        looked_for = set(FINDINGS) if NONE in targets else (mapped if options.absent_is_negative else set())
        labels = _labels(targets & set(FINDINGS), looked_for)
        fitzpatrick = next((_fitzpatrick(row.get(c, "")) for c in SCIN_FITZPATRICK if _fitzpatrick(row.get(c, ""))), "")
        for column in image_columns:
            if not (row.get(column) or "").strip():
                continue
            path = _find_scin_image(cases_csv.parent, row[column].strip())
            if path is None:
                missing.append(row[column])
                continue
            record = Record(path=str(path.resolve()), labels=dict(labels), group=f"case-{row['case_id']}",
                            fitzpatrick=fitzpatrick, extra={"monk_skin_tone": (row.get(SCIN_MONK) or "").strip()})
            records.append(_stamp(record, Carried(), options))
    if missing:
        raise _missing_files_error(str(cases_csv), missing)
    if not any(label is not None for r in records for label in r.labels.values()):
        raise ManifestError(f"{cases_csv}: no condition maps to a finding; pass --mapping (condition,finding)")
    if unmapped:
        warnings.warn(f"scin: {len(unmapped)} condition name(s) map to no finding and say nothing about the "
                      f"findings (most common: {', '.join(name for name, _ in unmapped.most_common(5))})")
    return _with_checksums(records, str(cases_csv), options.progress)


def _read_rows(path: Path) -> list[dict[str, str]]:
    return csv_records(path)


def _condition_list(text: str) -> list[str]:
    """SCIN writes condition lists as Python literals: "['Eczema', 'Acne']"."""
    text = (text or "").strip()
    if not text:
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return [text]
    return [str(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def _find_scin_image(folder: Path, listed: str) -> Path | None:
    """SCIN lists paths from its bucket root (dataset/images/x.png); accept the usual local layouts."""
    name = Path(listed).name
    for candidate in (folder / listed, folder.parent / listed, folder / "images" / name, folder / name):
        if candidate.is_file():
            return candidate
    return None


IMPORTERS = {
    "manifest": import_manifest,
    "folder": import_folder,
    "roboflow": import_roboflow,
    "yolo": import_yolo,
    "coco": import_coco,
    "scin": import_scin,
}


# --- checksums, merging, warnings --------------------------------------------------------------------------


def _checksums(paths: list[Path], progress: bool) -> list[str]:
    return [sha256_file(p) for p in tqdm(paths, desc="sha256", unit="img", disable=not (progress and paths))]


def _with_checksums(records: list[Record], what: str, progress: bool) -> list[Record]:
    missing = [r.path for r in records if not Path(r.path).is_file()]
    if missing:
        raise _missing_files_error(what, missing)
    checksums = _checksums([Path(r.path) for r in records], progress)
    return [dataclasses.replace(r, sha256=c) for r, c in zip(records, checksums)]


def verify_checksums(manifest: Manifest, progress: bool = False) -> None:
    """Every file present and unchanged; raise ManifestError listing the missing, changed and unrecorded."""
    problems: dict[str, list[str]] = {}
    for record in tqdm(manifest.records, desc="checksums", unit="img", disable=not progress):
        path = manifest.resolve(record)
        if not path.is_file():
            problems.setdefault("missing", []).append(record.path)
        elif not record.sha256:
            problems.setdefault("no sha256 recorded", []).append(record.path)
        elif sha256_file(path) != record.sha256.strip().lower():
            problems.setdefault("changed since the manifest was written (sha256 differs)", []).append(record.path)
    if problems:
        count = sum(len(v) for v in problems.values())
        lines = [f"{count} of {len(manifest)} image(s) failed the checksum check:"]
        lines += [f"  {what}: {name_files(files)}" for what, files in problems.items()]
        raise ManifestError("\n".join(lines))


def merge(parts: list[list[Record]]) -> list[Record]:
    """Records of several imports in one list; the same file twice is an error."""
    records = [r for part in parts for r in part]
    twice = [path for path, n in Counter(r.path for r in records).items() if n > 1]
    if twice:
        raise ManifestError(f"{len(twice)} file(s) imported twice: {name_files(twice)}")
    return records


def _move_paths(record: Record, move) -> Record:
    """Apply ``move`` to the record's path and to the extra columns that hold file paths."""
    extra = {k: (move(v) if k in PATH_COLUMNS and v else v) for k, v in record.extra.items()}
    return dataclasses.replace(record, path=move(record.path), extra=extra)


def absolute(records: list[Record], root: Path) -> list[Record]:
    """Paths read relative to a manifest's folder ``root``, made absolute."""
    return [_move_paths(r, lambda p: str((root / p).resolve())) for r in records]


def relative_to(records: list[Record], folder: Path) -> list[Record]:
    """Absolute paths under ``folder`` become relative (the manifest can move with its images); others stay."""
    folder = folder.resolve()

    def move(path: str) -> str:
        return str(Path(path).relative_to(folder)) if Path(path).is_relative_to(folder) else path

    return [_move_paths(r, move) for r in records]


def scraped_name_warnings(records: list[Record]) -> list[str]:
    """File names that hint at stock or reference-site images, which exports often relabel as CC BY."""
    hits = [r.path for r in records if any(hint in Path(r.path).name.lower() for hint in SCRAPED_NAME_HINTS)]
    if not hits:
        return []
    return [f"{len(hits)} file name(s) suggest images scraped from stock or reference sites; check their "
            f"provenance before training: {name_files([Path(h).name for h in hits])}"]
