"""What the app adds to gradio's page for assistive tech and small screens (axe-core and 390x844 in the browser tests).

Gradio 6.31's upload areas (gr.Image, gr.File) name their button "Click to upload or drop files"
(or "Drop an image file here to upload") while showing "Drop Image Here - or - Click to Upload", so a speech-input user saying what they
see does not reach it (axe: label-content-name-mismatch). No component option sets that name, so
a small script drops the fixed name and lets the visible text name the button.

When results arrive (a check, a recovery view, a pre-sort), nothing tells a screen reader and, on a phone,
they land below the form, out of sight. The same script keeps one polite live region (``#sf-announce``) that
says the results' first sentence (the next step) and scrolls the new results into view. It is inline and
self-contained (the page stays offline), and runs again whenever gradio redraws a component.

Gradio 6.31's Dataframe starts editing a cell on a double click only (no option changes that); on a phone a
double tap also zooms the page. The script makes one click or tap on a cell in ``ONE_TAP_CELLS`` (the day
column of the recovery tab's table) start editing it, by handing gradio's own handler the double click.
"""

from __future__ import annotations

# The fixed names gradio gives its upload areas (gr.File / gr.Image), never what they show.
FIXED_UPLOAD_NAMES = ("Click to upload or drop files", "Drop an image file here to upload")
_SELECTOR = ", ".join(f'[aria-label="{name}"]' for name in FIXED_UPLOAD_NAMES)
# Each results area -> the element whose text is announced when it changes (its first, most important line).
RESULTS = {
    "#sf-results": ".sf-next-step, .sf-error, .sf-abstain h3",
    "#sf-timeline": ".sf-timeline h3, .sf-error",
    "#sf-presort": ".sf-presort > p, .sf-error",
}
# Cells that start editing on one tap: the recovery table's day column (the Photo column names the photo).
ONE_TAP_CELLS = '#sf-tl-days .body-cell[data-col="1"]'
_RESULTS_JS = ", ".join(f'["{area}", "{first}"]' for area, first in RESULTS.items())

HEAD = f"""<script>
(() => {{
  const said = {{}};
  const live = () => {{
    let region = document.getElementById("sf-announce");
    if (!region && document.body) {{
      region = document.createElement("div");
      region.id = "sf-announce";
      region.className = "sf-visually-hidden";
      region.setAttribute("role", "status");
      region.setAttribute("aria-live", "polite");
      document.body.appendChild(region);
    }}
    return region;
  }};
  const announce = () => {{
    for (const [area, first] of [{_RESULTS_JS}]) {{
      const line = document.querySelector(`${{area}} :is(${{first}})`);
      const text = line ? line.textContent.trim() : "";
      if (!text || said[area] === text) continue;
      const before = said[area];
      said[area] = text;
      if (before === undefined && !document.querySelector(`${{area}} .sf-next-step, ${{area}} table`)) continue;
      const region = live();
      if (region) region.textContent = "Results: " + text;
      const box = document.querySelector(area);
      if (box && box.getBoundingClientRect().top > window.innerHeight * 0.6) box.scrollIntoView({{block: "start"}});
    }}
  }};
  const fix = () => {{
    document.querySelectorAll('{_SELECTOR}').forEach((element) => element.removeAttribute("aria-label"));
    live();
    announce();
  }};
  new MutationObserver(fix).observe(document.documentElement, {{subtree: true, childList: true, attributes: true,
    attributeFilter: ["aria-label"], characterData: true}});
  document.addEventListener("DOMContentLoaded", fix);
  document.addEventListener("click", (event) => {{
    const target = event.target;
    const cell = target instanceof Element ? target.closest('{ONE_TAP_CELLS}') : null;
    if (!cell || target.closest("input, textarea, button")) return;  // already editing, or the cell's menu
    cell.dispatchEvent(new MouseEvent("dblclick", {{bubbles: true, cancelable: true, view: window}}));
  }});
}})();
</script>"""
