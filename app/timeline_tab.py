"""The "Track my recovery" tab: several photos of the same area, each with its day, as one timeline.

Each photo goes through the same Predictor, abstention and guidance as "Check a photo".
The days are prefilled from the photo's capture date (EXIF DateTimeOriginal, read before
the loader strips the metadata) and the treatment date the person enters; they stay
editable, and the capture date itself is never kept or shown, only the day it gives.
Trends and verdicts come from ``app/trends.py``, the plot from ``app/timeline_plot.py``,
the download from ``app/report.py`` (built in memory, handed over as a ``data:`` link). The
patient may type a name or ID and a note for the report; both go only into that download.
"""

from __future__ import annotations

from skinfindings.app import privacy

privacy.prepare_environment()  # before gradio is imported, whoever imports this module first

import html  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402

from skinfindings.app import guidance, inputs, report, trends  # noqa: E402
from skinfindings.app.inputs import GONE, clean_flags, upload_source  # noqa: E402
from skinfindings.app.notice import notice_html, urgency_html  # noqa: E402
from skinfindings.app.presort_tab import PHOTO_TYPES  # noqa: E402
from skinfindings.app.priority import RED_FLAGS  # noqa: E402
from skinfindings.app.timeline_plot import png_uri, timeline_png, verdicts_table  # noqa: E402
from skinfindings.data.photo import PhotoError, capture_date  # noqa: E402

MAX_PHOTOS = 60  # two months of daily photos; more is a clinic's job (skinfindings sort --patients)
DAY_COLUMNS = ["Photo", "Day since the treatment"]
TOO_MANY = (f"At most {MAX_PHOTOS} photos can be followed at once (two months of daily photos). Please choose the "
            f"{MAX_PHOTOS} you want to follow and add them again; a clinic can sort more with skinfindings sort.")
# The report's patient fields: a name or an ID fits in a line; a note is a few sentences, not a diary.
MAX_PATIENT_CHARS = 100
MAX_NOTE_CHARS = 1000
EMPTY = '<div class="sf-timeline sf-empty"><p>Add photos, check their days and press <b>Show my recovery</b>.</p></div>'


# ---------------------------------------------------------------- days


def photo_label(index: int) -> str:
    """What the tab and the provider report call a photo: its place in the upload, never its file name,
    which often carries the date and time it was taken (IMG_20260311_101523.jpg)."""
    return f"Photo {index + 1}"


def _own_upload(path: str) -> Path | None:
    """The path of an upload not yet used (it holds a ticket, see privacy.UploadTickets); else None.

    Reading the date does not use the ticket up: the photo itself is read when the timeline is drawn."""
    plain = inputs.plain_path(path)
    if plain is None:
        return None
    resolved = plain.resolve()
    in_folder = privacy.private_dir().resolve() in resolved.parents and resolved.is_file()
    return resolved if in_folder and privacy.TICKETS.holds(resolved) else None


def _prefilled_day(path: str, treated) -> str:
    upload = _own_upload(path)
    taken = capture_date(upload) if upload is not None and treated is not None else None
    if taken is None:
        return ""
    try:
        return str(trends.day_between(treated, taken))
    except trends.DayError:
        return ""  # a capture date outside the first year is left for the person to type (and be told why)


def day_rows(uploads, treatment_date) -> list[list[str]]:
    """One editable row per uploaded photo: its label and the day prefilled from its capture date, if any."""
    try:
        treated = trends.parse_date(treatment_date) if (treatment_date or "").strip() else None
    except trends.DayError:
        treated = None  # the message comes when the timeline is drawn; the days stay editable meanwhile
    paths = [p for p in map(upload_source, uploads or []) if isinstance(p, str)]
    return [[photo_label(i), _prefilled_day(p, treated)] for i, p in enumerate(paths)]


def _prefill(uploads, treatment_date):
    if not uploads:
        return gr.update()  # uploads cleared after a check: the days typed so far stay
    return day_rows(uploads, treatment_date)


# ---------------------------------------------------------------- photos


def read_photos(predictor, inbox: privacy.UploadInbox, uploads) -> list[report.TrackedPhoto]:
    """Every upload through the Predictor; an unreadable or vanished file becomes a photo with a note."""
    photos = []
    paths = [p for p in map(upload_source, uploads or []) if isinstance(p, str)]
    if len(paths) > MAX_PHOTOS:  # the validator refuses this first; never drop a photo silently
        raise inputs.BadInput(TOO_MANY)
    for index, path in enumerate(paths):
        name = photo_label(index)
        try:
            data = inbox.take(path)
            prediction = predictor.predict(data, name=name)
        except FileNotFoundError:
            photos.append(report.TrackedPhoto(0, name, note=f"{GONE} Please add it again."))
        except PhotoError as exc:
            photos.append(report.TrackedPhoto(0, name, note=exc.user_message))
        else:
            photos.append(report.tracked_photo(prediction, day=0, name=name, source=data))
    return photos


def with_days(photos: list[report.TrackedPhoto], table) -> tuple[list[report.TrackedPhoto], list[str]]:
    """The photos with the days from the table, matched by the Photo column (a deleted or moved row never
    gives a photo another photo's day), and a message for each day that is missing or refused."""
    days: dict[str, list] = {}
    for row in _table_rows(table):
        if row:
            days.setdefault(str(row[0]).strip(), []).append(row[1] if len(row) > 1 else "")
    dated, problems = [], []
    for photo in photos:
        given = days.pop(photo.name, [])
        if len(given) != 1:
            problems.append(f"{photo.name} has {'no row' if not given else 'more than one row'} in the table of "
                            "days. Please add the photos again to get one row per photo.")
            continue
        try:
            dated.append(replace(photo, day=trends.check_day(given[0], photo.name)))
        except trends.DayError as exc:
            problems.append(str(exc))
    problems += [f"The table has a row for {name[:40]!r}, which is not one of the photos."
                 for name in days if name]
    return dated, problems


def _table_rows(table) -> list[list]:
    if table is None:
        return []
    if isinstance(table, dict):  # the API and preprocess=False send {"headers": ..., "data": ...}
        table = table.get("data") or []
    if hasattr(table, "values"):  # a pandas DataFrame
        table = table.values.tolist()
    return [list(row) for row in table]


# ---------------------------------------------------------------- rendering


def _advice_html(photo: report.TrackedPhoto, procedure: str) -> str:
    """The same guidance as "Check a photo", for the findings of the latest photo, worded for its day."""
    cards = []
    for finding in photo.present:
        advice = guidance.finding_advice(finding, procedure, photo.day, photo.levels.get(finding, "possible"))
        cards.append(
            f'<div class="sf-finding" data-finding="{finding}"><h4>{html.escape(advice.headline)}</h4>'
            f'<p class="sf-timing"><b>Timing.</b> {html.escape(advice.timing)}</p>'
            f'<p class="sf-contact"><b>When to contact your provider.</b> {html.escape(advice.contact)}</p></div>'
        )
    if not cards:
        return ""
    return f"<h3>Guidance for your latest photo (day {photo.day})</h3>{''.join(cards)}"


def _treated_on(treatment_date: str):
    """The treatment date for the report, or None (not given, or not a date: ``track`` says so)."""
    try:
        return trends.parse_date(treatment_date) if (treatment_date or "").strip() else None
    except trends.DayError:
        return None


def timeline_html(series: trends.Series, photos: list[report.TrackedPhoto], flags: set[str], meta,
                  patient: str = "", note: str = "", treatment_date: str = "") -> str:
    plot = png_uri(timeline_png(series, report.thresholds_of(photos)))
    assessed = [p for p in sorted(photos, key=lambda p: p.day) if p.assessed]
    advice = _advice_html(assessed[-1], series.procedure) if assessed else ""
    page = report.build_report(photos, series.procedure, flags, meta, patient=patient or "", note=note or "",
                               treatment_date=_treated_on(treatment_date))
    link = report.download_link(page, report.REPORT_NAME, "Download the report for your provider (HTML)")
    gaps = (f"<p>Photos that could not be assessed (days {', '.join(map(str, series.gaps))}) are gaps in the "
            "timeline, marked ?, not photos without findings.</p>") if series.gaps else ""
    return (
        f'<div class="sf-timeline"><h3>Your recovery, finding by finding</h3>'
        f'<img class="sf-tl-plot" src="{plot}" alt="Timeline of each finding by day since the treatment. The same '
        f'information is in the table Trend per finding below.">{gaps}{verdicts_table(series)}'
        f"<h3>Each photo</h3>{report.photos_table(photos)}{advice}<p>{link}</p>"
        "<p class=\"sf-uncertainty\">The percentages are the model's own estimates, not measurements: it can miss a "
        "finding or report one that is not there. Nothing here is a diagnosis.</p></div>"
    )


def render(meta, photos, table, procedure, flags, patient: str = "", note: str = "", treatment_date: str = ""):
    """(notice, results) for the photos kept in the session and the days, treatment and signs as they are now;
    the patient's name/ID, note and treatment date go into the report."""
    flags = clean_flags(flags)
    procedure = procedure or guidance.UNKNOWN_PROCEDURE
    if not photos:
        return notice_html(meta, None, flags), EMPTY
    dated, problems = with_days(photos, table)
    if problems:  # the notice still follows the warning signs; the timeline waits for usable days
        items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
        message = f'<div class="sf-error" role="alert"><h3>Some days need a look</h3><ul>{items}</ul></div>'
        return notice_html(meta, None, flags), f'<div class="sf-timeline">{message}</div>'
    series = report.series_of(dated, procedure)
    return urgency_html(meta, trends.series_urgency(series, flags)), timeline_html(
        series, dated, flags, meta, patient, note, treatment_date)


def track(predictor, inbox: privacy.UploadInbox, uploads, table, treatment_date, procedure, flags, kept,
          patient: str = "", note: str = ""):
    """Read new uploads (then gone from the server) or reuse the photos already read in this session."""
    photos = read_photos(predictor, inbox, uploads) if uploads else (kept or [])
    notice, results = render(predictor.meta, photos, table, procedure, flags, patient, note, treatment_date)
    if (treatment_date or "").strip():
        try:
            trends.parse_date(treatment_date, "the date of the treatment")
        except trends.DayError as exc:
            results = f'<p class="sf-error" role="alert">{html.escape(str(exc))}</p>{results}'
    return photos, None, notice, results


def build(predictor, inbox: privacy.UploadInbox, notice: gr.HTML) -> None:
    """The tab's controls and events, inside the caller's ``gr.Tabs``; ``notice`` is the shared provider notice."""
    meta = predictor.meta
    with gr.Tab("Track my recovery", id="timeline"):
        # Inside the tab, like check_tab's (a State outside a tab mislabels the next tab in gradio 6.31).
        kept = gr.State([])  # the photos as read: numbers and rebuilt thumbnails, never the files or their metadata
        gr.Markdown(
            "Add several photos of the same treated area, taken on different days. The app checks each one and "
            "shows how each possible finding changes over time, compared with when your treatment usually causes it."
        )
        with gr.Row():
            with gr.Column(scale=2):
                procedure = gr.Dropdown(guidance.procedure_choices(), value=guidance.UNKNOWN_PROCEDURE,
                                        label="Treatment you had", elem_id="sf-tl-procedure")
                treatment_date = gr.Textbox(label="Date of the treatment (year-month-day, optional)",
                                            placeholder="for example 2026-03-14: fills in the days from the photos",
                                            max_lines=1, elem_id="sf-tl-date")
                files = gr.File(label="Photos of the same area", file_count="multiple", file_types=PHOTO_TYPES,
                                elem_id="sf-tl-files")
                days = gr.Dataframe(headers=DAY_COLUMNS, datatype=["str", "str"], column_count=(2, "fixed"),
                                    type="array", interactive=True,
                                    label="Day of each photo since the treatment (0 = the same day); edit as needed",
                                    elem_id="sf-tl-days")
                flags = gr.CheckboxGroup([(text, key) for key, text in RED_FLAGS.items()],
                                         label="Do you have any of these now? Tick all that apply.",
                                         elem_id="sf-tl-flags")
                with gr.Accordion("For the report to your provider (optional)", open=False):
                    # Typed by the patient, only into the downloaded report: never kept, logged or sent.
                    # value="": API callers may leave both out (gradio_client then sends the empty default).
                    patient = gr.Textbox("", label="Your name or patient ID", max_lines=1,
                                         max_length=MAX_PATIENT_CHARS, elem_id="sf-tl-patient")
                    note = gr.Textbox("", label="A note for your provider", lines=3, max_length=MAX_NOTE_CHARS,
                                      placeholder="for example: it itches more since yesterday", elem_id="sf-tl-note")
                show = gr.Button("Show my recovery", variant="primary", elem_id="sf-tl-track")
            with gr.Column(scale=3):
                results = gr.HTML(EMPTY, js_on_load=None, elem_id="sf-timeline")

    gr.on(
        [files.change, treatment_date.change],
        _prefill,
        [files, treatment_date],
        [days],
        api_name="prefill_days",  # its validator reads the uploads without using their tickets up
        api_visibility="private",
        preprocess=False,
        queue=False,
        show_progress="hidden",
    )
    show.click(
        lambda *values: track(predictor, inbox, *values),
        [files, days, treatment_date, procedure, flags, kept, patient, note],
        [kept, files, notice, results],
        api_name="track_recovery",
        preprocess=False,  # see inputs.upload_source
        concurrency_id="model",
    )
    gr.on(
        [days.input, procedure.input, flags.input, patient.blur, patient.submit, note.blur],
        lambda photos, table, p, f, name, text, date: render(meta, photos, table, p, f, name, text, date),
        [kept, days, procedure, flags, patient, note, treatment_date],
        [notice, results],
        api_name="update_recovery",  # named so that its inputs are validated too (see validators)
        api_visibility="private",
        show_progress="hidden",
    )


# ---------------------------------------------------------------- validation (security.guard_events)


MAX_DATE_CHARS = 40  # year-month-day, with room for what a date field may add

BAD_TABLE = ("The days must be a table with two columns, Photo and Day since the treatment, one row per photo "
             "(for example [[\"Photo 1\", \"3\"]]).")


def _checked_table(table) -> dict:
    """The days table in the one shape gradio accepts (``{"headers", "data"}``); anything else is refused here,
    with a message, instead of failing inside gradio without one."""
    if isinstance(table, dict):
        table = table.get("data")
    if table is None:
        table = []
    if not isinstance(table, list) or len(table) > inputs.MAX_FILES:
        raise inputs.BadInput(BAD_TABLE)
    for row in table:
        if not isinstance(row, list) or len(row) != len(DAY_COLUMNS) or not all(
                isinstance(cell, (str, int, float, type(None))) and not isinstance(cell, bool) for cell in row):
            raise inputs.BadInput(BAD_TABLE)
    return {"headers": list(DAY_COLUMNS), "data": [["" if c is None else str(c) for c in row] for row in table]}


def _checked_form(table, treatment_date, procedure, flags) -> list:
    if treatment_date is not None and not isinstance(treatment_date, str):
        raise inputs.BadInput("The date of the treatment must be text such as 2026-03-14.")
    return [_checked_table(table), treatment_date or "", inputs.parse_procedure(procedure),
            sorted(inputs.parse_flags(flags))]


def _checked_texts(values: list, limits: tuple[int, ...]) -> list[str]:
    """The patient's name/ID and note (and a treatment date) as sent: text within its limit, control characters
    other than line breaks dropped. The report escapes them; here they are held to their size."""
    checked = []
    for value, limit in zip(values, limits):
        if value is not None and not isinstance(value, str):
            raise inputs.BadInput("The name, the note and the date of the treatment must be text.")
        text = "".join(c for c in value or "" if c in "\n\t" or c.isprintable())
        if len(text) > limit:
            raise inputs.BadInput(f"Please shorten the text to {limit} characters (it has {len(text)}).")
        checked.append(text)
    return checked


def _file_list(files) -> list:
    """The uploads as sent (paths only, no link), at most MAX_PHOTOS."""
    files = files or []
    if not isinstance(files, list) or len(files) > inputs.MAX_FILES:
        raise inputs.BadInput(f"The photos must be a list of up to {MAX_PHOTOS} uploaded files.")
    if not all(inputs.plain_path(upload_source(item)) is not None for item in files):
        raise inputs.BadInput(f"The photos must be a list of up to {MAX_PHOTOS} uploaded files.")
    return files


def validators(tickets: privacy.UploadTickets) -> dict:
    """The tab's events by name -> the check of their raw inputs, like the other tabs'."""

    def track_raw(raw: list) -> list:  # files, days, treatment date, procedure, flags, kept photos, patient, note
        files = _file_list(raw[0])
        if len(files) > MAX_PHOTOS:  # refused whole, and the uploads deleted: none is silently left out
            privacy.discard_unused([upload_source(item) for item in files], tickets)
            raise inputs.BadInput(TOO_MANY)
        checked = _checked_form(*raw[1:5])  # first: a refused form keeps the uploads' tickets for the retry
        texts = _checked_texts(raw[6:], (MAX_PATIENT_CHARS, MAX_NOTE_CHARS))
        return [inputs.check_file_list(files, tickets), *checked, raw[5], *texts]

    def update_raw(raw: list) -> list:  # kept photos, days, procedure, flags, patient, note, treatment date
        table, _, procedure, flags = _checked_form(raw[1], None, raw[2], raw[3])
        texts = _checked_texts(raw[4:], (MAX_PATIENT_CHARS, MAX_NOTE_CHARS, MAX_DATE_CHARS))
        return [raw[0], table, procedure, flags, *texts]

    def prefill_raw(raw: list) -> list:  # files, treatment date: only read (see _own_upload), never taken here
        files = _file_list(raw[0])
        if len(files) > MAX_PHOTOS:
            raise inputs.BadInput(TOO_MANY)
        return [files, _checked_form(None, raw[1], None, None)[1]]

    return {"track_recovery": track_raw, "update_recovery": update_raw, "prefill_days": prefill_raw}
