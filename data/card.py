"""Dataset card: what a manifest holds and where every image came from, as Markdown.

    skinfindings data card runs/data/real/manifest.csv --out docs/real_data_card.md --by diagnosis

Counts per finding (positive / negative / unknown), per split, per skin tone, per licence and per
source, plus an attribution table naming every source with its licence and link. ``stats`` prints
the same tables as text. Every number is counted from the manifest; the card names the command.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from skinfindings.data.licenses import licence_family, normalise_license, NON_COMMERCIAL_FAMILIES, PRIVATE_LICENCE
from skinfindings.data.manifest import FITZPATRICK_TYPES, Manifest, Record
from skinfindings.findings import FINDING_INFO, FINDINGS

UNKNOWN = "unknown"
FEW_POSITIVES = 10  # below this many positive images a per-finding metric on the set means little


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]


def _split_names(records: list[Record]) -> list[str]:
    present = {r.split or "(none)" for r in records}
    return [s for s in ("train", "val", "test") if s in present] + sorted(present - {"train", "val", "test"})


def finding_table(records: list[Record]) -> Table:
    """Per finding: positives / negatives / unknown, overall and per split."""
    splits = _split_names(records) if len(_split_names(records)) > 1 else []
    header = ["finding", "positive", "negative", "unknown"] + [f"positive in {s}" for s in splits]
    rows = []
    for finding in FINDINGS:
        values = Counter(r.labels.get(finding) for r in records)
        in_split = Counter(r.split or "(none)" for r in records if r.labels.get(finding) == 1)
        rows.append([FINDING_INFO[finding].label, str(values[1]), str(values[0]), str(values[None])]
                    + [str(in_split[s]) for s in splits])
    return Table("Findings (1 = present, 0 = absent, unknown = not annotated or annotators disagreed)", header, rows)


def split_table(records: list[Record]) -> Table:
    rows = []
    for split in _split_names(records):
        members = [r for r in records if (r.split or "(none)") == split]
        rows.append([split, str(len(members)), str(len({r.group or r.path for r in members}))])
    return Table("Splits (a group never spans two splits)", ["split", "images", "groups"], rows)


def _tone(record: Record) -> str:
    return record.fitzpatrick if record.fitzpatrick in FITZPATRICK_TYPES else UNKNOWN


def tone_table(records: list[Record]) -> Table:
    """Per Fitzpatrick type: images and positives per finding, so per-tone results can be read with their counts."""
    tones = [t for t in FITZPATRICK_TYPES if any(_tone(r) == t for r in records)] + [UNKNOWN]
    rows = []
    for tone in tones:
        members = [r for r in records if _tone(r) == tone]
        rows.append([tone, str(len(members))] + [str(sum(r.labels.get(f) == 1 for r in members)) for f in FINDINGS])
    title = "Skin tone (Fitzpatrick type where recorded): images, and positive images per finding (+)"
    return Table(title, ["Fitzpatrick", "images", *(f"{f} +" for f in FINDINGS)], rows)


def licence_table(records: list[Record]) -> Table:
    counts = Counter(normalise_license(r.license) or "(none)" for r in records)
    return Table("Licences", ["licence", "images"], [[licence, str(n)] for licence, n in sorted(counts.items())])


def column_table(records: list[Record], column: str) -> Table:
    """Counts of any manifest column (an extra one such as ``diagnosis``, or ``source``)."""
    base = column in ("source", "split", "fitzpatrick")
    values = Counter((getattr(r, column) if base else r.extra.get(column)) or "(empty)" for r in records)
    return Table(f"By {column}", [column, "images"], [[v, str(n)] for v, n in sorted(values.items())])


def attribution_table(records: list[Record]) -> Table:
    """One row per (source, licence): what must be shown wherever the images or results on them appear."""
    rows: dict[tuple[str, str], list[Record]] = {}
    for record in records:
        key = (record.source or "(no source)", normalise_license(record.license) or "(none)")
        rows.setdefault(key, []).append(record)
    body = []
    for (source, licence), members in sorted(rows.items()):
        attribution = Counter(r.attribution for r in members if r.attribution).most_common(1)
        url = Counter(r.upstream_url for r in members if r.upstream_url).most_common(1)
        body.append([source, licence, str(len(members)), attribution[0][0] if attribution else "(none given)",
                     url[0][0] if url else ""])
    return Table("Attribution", ["source", "licence", "images", "attribution", "upstream"], body)


def card_tables(manifest: Manifest, by: list[str] = ()) -> list[Table]:
    records = manifest.records
    tables = [finding_table(records), split_table(records), tone_table(records), licence_table(records)]
    tables += [column_table(records, column) for column in by]
    return tables + [attribution_table(records)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    lines = [f"### {table.title}", "", "| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def text_table(table: Table) -> str:
    widths = [max(len(r[i]) for r in [table.header, *table.rows]) for i in range(len(table.header))]
    lines = [table.title, "  ".join(h.ljust(w) for h, w in zip(table.header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in table.rows]
    return "\n".join(lines)


def _use_notes(records: list[Record]) -> list[str]:
    families = {licence_family(normalise_license(r.license)) for r in records}
    notes = []
    if families & set(NON_COMMERCIAL_FAMILIES):
        notes.append("- **Non-commercial:** some images carry a CC-BY-NC licence. A model trained on them is "
                     "non-commercial, and its model card must say so.")
    if PRIVATE_LICENCE in {normalise_license(r.license) for r in records}:
        notes.append("- **Private:** some images are a clinic's own consented photos. A model trained on them "
                     "must not be published.")
    positives = {f: sum(r.labels.get(f) == 1 for r in records) for f in FINDINGS}
    few = [f"{f} ({n})" for f, n in positives.items() if n < FEW_POSITIVES]
    if few:
        notes.append(f"- **Fewer than {FEW_POSITIVES} positive images:** {', '.join(few)}. This set cannot measure "
                     "these findings; say so next to any result on it.")
    notes.append("- Attribute every source below wherever its images, or results measured on them, are shown.")
    return notes


def render_card(manifest: Manifest, title: str, command: str, by: list[str] = (), notes: list[str] = ()) -> str:
    records = manifest.records
    unknown_share = sum(v is None for r in records for v in r.labels.values())
    head = [
        f"# {title}",
        "",
        "Generated from the manifest by the command at the end of this card; edit the manifest, not this file.",
        "",
        f"- **Images:** {len(records)} in {len({r.group or r.path for r in records})} groups "
        "(patient / lesion / source image)",
        f"- **Sources:** {len({r.source for r in records})}; **licences:** "
        f"{', '.join(sorted({normalise_license(r.license) or '(none)' for r in records}))}",
        f"- **Unknown labels:** {unknown_share} of {len(records) * len(FINDINGS)} image-finding pairs",
        *_use_notes(records),
        *(f"- {note}" for note in notes),
    ]
    tables = "\n\n".join(markdown_table(t) for t in card_tables(manifest, by))
    return "\n".join(head + ["", tables, "", "### Regenerate", "", "```", command, "```"]) + "\n"
