"""The "Track my recovery" tab and the accessibility of every tab, in headless Debian Chromium.

    python -m pytest -q tests/test_app_timeline_browser.py
    SKINFINDINGS_SCREENSHOTS=docs/screenshots python -m pytest -q tests/test_app_timeline_browser.py

The accessibility check injects axe-core (``npm ci --prefix tests/js``; .ci/run does it) into
the real page and fails on any serious or critical WCAG 2.1 A/AA violation. Without Chromium
or axe-core the tests are skipped here and fail in CI (CI=true), like test_app_browser.py.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from test_app_browser import TIMEOUT_MS, app_url, browser, page, phone, save_screenshot  # noqa: F401
from skinfindings.data.synth import SynthConfig, render_sample
from test_report import MAKER, phone_jpeg

AXE = Path(__file__).resolve().parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
TABS = ["Check a photo", "Track my recovery", "Clinician pre-sort", "About"]


def require_axe() -> Path:
    if AXE.is_file():
        return AXE
    message = "axe-core is not installed (npm ci --prefix tests/js)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def serious_violations(page) -> list[dict]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it is now."""
    page.add_script_tag(path=str(require_axe()))
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return result.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }""",
        WCAG_21_AA,
    )


@pytest.fixture(scope="module")
def series_files(tmp_path_factory):
    """Three renders of redness on one area: two carry their capture date (days 1 and 4 after 2026-03-01),
    one does not (it is typed as day 12, after the window in which microneedling makes redness expected)."""
    folder = tmp_path_factory.mktemp("timeline-photos")
    files = []
    for name, seed, taken in (("day1.jpg", 31, "2026:03:02 09:00:00"), ("day4.jpg", 32, "2026:03:05 18:30:00"),
                              ("later.jpg", 33, None)):
        render = render_sample(seed, SynthConfig(size=320, findings=("erythema",))).image
        path = folder / name
        path.write_bytes(phone_jpeg(seed, taken, Image.fromarray(render)))
        files.append(path)
    return files


def open_timeline(page):
    page.get_by_role("tab", name="Track my recovery").click()
    page.locator("#sf-tl-files").wait_for()


def set_day(page, row: int, value: str) -> None:
    cell = page.locator(f'#sf-tl-days [data-testid="cell-{row}-1"]')
    cell.dblclick()
    field = cell.locator("input, textarea").first
    field.fill(value)
    field.press("Enter")


def add_photos(page, files) -> None:
    choose_procedure_in(page, "Microneedling")
    page.locator("#sf-tl-date input, #sf-tl-date textarea").first.fill("2026-03-01")
    page.locator("#sf-tl-files input[type=file]").set_input_files([str(p) for p in files])
    expect(page.locator('#sf-tl-days [data-testid="cell-1-1"]')).to_have_text("4", timeout=TIMEOUT_MS)


def choose_procedure_in(page, label: str) -> None:
    page.locator("#sf-tl-procedure input").click()
    page.get_by_role("option", name=label).click()


def test_three_photos_with_days_give_the_plot_the_verdicts_and_the_report(page, series_files):
    open_timeline(page)
    add_photos(page, series_files)
    days = page.locator("#sf-tl-days")
    assert days.locator('[data-testid="cell-0-1"]').inner_text().strip() == "1"  # from the capture date
    assert days.locator('[data-testid="cell-2-1"]').inner_text().strip() == ""  # no date in the file: typed
    assert "2026" not in days.inner_text()  # the day is shown, never the capture date
    page.locator("#sf-tl-track").click()
    results = page.locator("#sf-timeline")
    results.locator(".sf-error").wait_for()
    assert "Please enter the day since the treatment for Photo 3" in results.inner_text()  # a label, not the file name
    set_day(page, 2, "12")
    plot = results.locator("img.sf-tl-plot")
    plot.wait_for()
    assert "same information is in the table" in plot.get_attribute("alt")
    verdicts = results.locator("table.sf-verdicts tbody tr")
    expect(verdicts).to_have_count(5)
    assert all(row.get_attribute("data-verdict") for row in verdicts.all())
    text = results.inner_text()
    assert "normal" not in text.lower() and MAKER not in text and "2026" not in text
    notice = page.locator("#sf-provider-notice")
    assert "provider" in notice.inner_text() and notice.is_visible()
    if results.locator('tr[data-verdict="rising"], tr[data-verdict="late"]').count():
        assert "Contact your provider soon" in notice.inner_text()  # a rising or late finding escalates
    link = results.locator("a.sf-download")
    with page.expect_download() as download:
        link.click()
    report = Path(download.value.path()).read_text(encoding="utf-8")
    assert download.value.suggested_filename == "skinfindings-recovery-report.html"
    assert "Not a diagnosis" in report and "days 1, 4, 12" in report and not re.search(r"https?:", report)
    words = re.sub(r"data:[^\"]+", "", report)
    words = re.sub(r"Report made on \d{4}-\d\d-\d\d", "", words)  # the dates it carries: today's ...
    words = words.replace("Microneedling on 2026-03-01", "")  # ... and the treatment date the patient typed
    assert MAKER not in words and "2026" not in words
    save_screenshot(page, "track-my-recovery")
    assert not serious_violations(page), serious_violations(page)  # the tab with its results, plot and tables


def test_report_page_itself_is_accessible(page, browser, series_files):  # noqa: F811
    """The downloaded report opened on its own, as the provider would."""
    open_timeline(page)
    add_photos(page, series_files)
    set_day(page, 2, "12")
    page.locator("#sf-tl-track").click()
    href = page.locator("#sf-timeline a.sf-download").get_attribute("href")
    context = browser.new_context()
    report = context.new_page()
    report.set_content(base64.b64decode(href.split(",", 1)[1]).decode("utf-8"))
    assert report.locator("table.sf-verdicts").count() == 1
    assert not serious_violations(report), serious_violations(report)
    save_screenshot(report, "provider-report")
    context.close()


def test_one_click_on_a_day_cell_edits_it(page, series_files):
    """Issue 22, point 6: a day cell edits with one click (gradio 6.31 needs a double click; app/accessibility.py)."""
    open_timeline(page)
    add_photos(page, series_files)
    cell = page.locator('#sf-tl-days [data-testid="cell-2-1"]')
    cell.click()
    field = cell.locator("input, textarea").first
    expect(field).to_be_focused()
    page.keyboard.type("12")
    page.keyboard.press("Enter")
    expect(cell).to_have_text(re.compile(r"^\s*12\b"))  # the cell also holds its menu's buttons
    page.locator("#sf-tl-track").click()
    expect(page.locator("#sf-timeline table.sf-verdicts tbody tr")).to_have_count(5)  # the typed day was used
    assert "Please enter the day" not in page.locator("#sf-timeline").inner_text()


def test_one_tap_on_a_day_cell_edits_it_on_a_phone(phone, series_files):
    open_timeline(phone)
    add_photos(phone, series_files)
    cell = phone.locator('#sf-tl-days [data-testid="cell-2-1"]')
    cell.tap()
    expect(cell.locator("input, textarea").first).to_be_focused()
    phone.keyboard.type("9")
    phone.keyboard.press("Enter")
    expect(cell).to_have_text(re.compile(r"^\s*9\b"))


def test_the_typed_name_and_note_are_in_the_downloaded_report_escaped(page, series_files):
    """Issue 22, point 4: an optional patient name/ID and a note, typed in the recovery tab, in the report."""
    open_timeline(page)
    add_photos(page, series_files)
    set_day(page, 2, "12")
    page.get_by_text("For the report to your provider (optional)").click()
    page.locator("#sf-tl-patient textarea, #sf-tl-patient input").first.fill("Ana <b>Lima</b>")
    page.locator("#sf-tl-note textarea").first.fill("It itches & burns <i>more</i>")
    page.locator("#sf-tl-track").click()
    link = page.locator("#sf-timeline a.sf-download")
    with page.expect_download() as download:
        link.click()
    report = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Ana &lt;b&gt;Lima&lt;/b&gt;" in report and "It itches &amp; burns &lt;i&gt;more&lt;/i&gt;" in report
    assert "<b>Lima" not in report and "<i>more" not in report
    # A name changed afterwards reaches the report when the field is left, without checking the photos again.
    page.locator("#sf-tl-patient textarea, #sf-tl-patient input").first.fill("ID 0042")
    page.locator("#sf-tl-note textarea").first.focus()
    expect(link).not_to_have_attribute("href", link.get_attribute("href"))
    page_html = base64.b64decode(link.get_attribute("href").split(",", 1)[1]).decode("utf-8")
    assert "ID 0042" in page_html and "Ana" not in page_html
    assert not serious_violations(page), serious_violations(page)  # the tab with its patient fields open


@pytest.mark.parametrize("tab", TABS)
def test_every_tab_has_no_serious_or_critical_wcag_violation(page, tab):
    page.get_by_role("tab", name=tab).click()
    page.wait_for_timeout(500)  # the tab's content is drawn
    violations = serious_violations(page)
    assert not violations, violations


@pytest.mark.parametrize("tab", TABS)
def test_every_tab_on_a_phone_has_no_serious_or_critical_wcag_violation(phone, tab):
    phone.get_by_role("tab", name=tab).click()
    phone.wait_for_timeout(500)
    violations = serious_violations(phone)
    assert not violations, violations


def test_presort_tab_with_a_patients_csv_shows_the_patient_and_stays_accessible(page, series_files, tmp_path):
    mapping = tmp_path / "patients.csv"
    mapping.write_text("file,patient,day,treatment\nday1.jpg,ana,1,microneedling\nday4.jpg,ana,4,microneedling\n"
                       "later.jpg,ana,12,microneedling\n")
    page.get_by_role("tab", name="Clinician pre-sort").click()
    page.locator("#sf-presort-files input[type=file]").set_input_files([*map(str, series_files), str(mapping)])
    expect(page.locator("#sf-presort-files tr.file")).to_have_count(4, timeout=TIMEOUT_MS)
    page.locator("#sf-sort").click()
    table = page.locator("#sf-presort .sf-worklist")
    table.wait_for()
    assert table.locator("tr[data-tier]").count() == 3  # the CSV is the patients list, not a photo
    assert "patient ana, day 12" in table.inner_text()
    assert page.locator("#sf-presort section.patient table.sf-verdicts tbody tr").count() == 5
    assert not serious_violations(page), serious_violations(page)
