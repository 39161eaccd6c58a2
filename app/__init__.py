"""The Gradio app (patient view, clinician pre-sort, about)."""
