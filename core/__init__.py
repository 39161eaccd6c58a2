"""skin-findings: possible post-procedure skin findings from a photo. Not a diagnosis."""

from skinfindings.findings import FINDINGS

__version__ = "0.1.0"
__all__ = ["FINDINGS", "__version__"]
