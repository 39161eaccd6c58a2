"""Architectures, checkpoint format and the one inference path (Predictor)."""
