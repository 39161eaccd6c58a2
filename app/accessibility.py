"""What the app adds to gradio's page so that it passes a WCAG 2.1 AA check (axe-core, in the browser tests).

Gradio 6.31's upload areas (gr.Image, gr.File) name their button "Click to upload or drop files"
(or "Drop an image file here to upload") while showing "Drop Image Here - or - Click to Upload", so a speech-input user saying what they
see does not reach it (axe: label-content-name-mismatch). No component option sets that name, so
a small script drops the fixed name and lets the visible text name the button. It is inline and
self-contained (the page stays offline), and runs again whenever gradio redraws a component.
"""

from __future__ import annotations

# The fixed names gradio gives its upload areas (gr.File / gr.Image), never what they show.
FIXED_UPLOAD_NAMES = ("Click to upload or drop files", "Drop an image file here to upload")
_SELECTOR = ", ".join(f'[aria-label="{name}"]' for name in FIXED_UPLOAD_NAMES)

HEAD = f"""<script>
(() => {{
  const fix = () => document.querySelectorAll('{_SELECTOR}')
    .forEach((element) => element.removeAttribute("aria-label"));
  new MutationObserver(fix).observe(document.documentElement, {{subtree: true, childList: true, attributes: true,
    attributeFilter: ["aria-label"]}});
  document.addEventListener("DOMContentLoaded", fix);
}})();
</script>"""
