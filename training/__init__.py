"""Training, calibration and evaluation."""
