"""skin-findings: possible post-procedure skin findings from a photo. Not a diagnosis."""

import os

# ONNX Runtime (the onnx extra, chosen automatically) otherwise looks up a Microsoft telemetry host every
# few seconds and writes a device id under ~/.cache/Microsoft. It reads this switch once, when its native
# library loads, and every module that can load it is imported after this package: so it is set here.
# ``disable_telemetry_events()`` does not stop the lookups. setdefault: an explicit choice is respected.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from skinfindings.findings import FINDINGS  # noqa: E402  (after the switch above, on purpose)

__version__ = "0.1.0"
__all__ = ["FINDINGS", "__version__"]
