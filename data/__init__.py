"""Photos and data sets: safe loading, the synthetic renderer, manifests and importers."""
