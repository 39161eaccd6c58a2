"""``skinfindings <command> [options]`` — one entry point, one module per command.

Each command lives in its own module with a ``main(argv)``; it is imported only
when called, so ``skinfindings --help`` stays fast and a missing optional
dependency only breaks the command that needs it.
"""

from __future__ import annotations

import csv
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("skinfindings.app.ui", "start the app on 127.0.0.1 with the shipped model"),
    "predict": ("skinfindings.model.predict_cli", "findings for one or more photos, as JSON"),
    "sort": ("skinfindings.app.presort_cli", "clinician pre-sort: photos/folders/zip in, prioritised CSV/HTML out"),
    "synth": ("skinfindings.data.synth", "render the synthetic training set (CC0)"),
    "data": ("skinfindings.data.cli", "import / check / stats / card for data manifests"),
    "train": ("skinfindings.training.train", "train a model from manifests"),
    "crossval": ("skinfindings.training.crossval", "grouped k-fold cross-validation on real photos, then the final model"),
    "evaluate": ("skinfindings.training.evaluate", "full evaluation report for a checkpoint on a manifest"),
    "compare": ("skinfindings.training.compare", "two evaluation reports side by side"),
    "export": ("skinfindings.model.export", "export the model (ONNX)"),
    "bench": ("skinfindings.model.bench", "latency / throughput / memory benchmark"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: skinfindings <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "skinfindings <command> --help shows a command's options.",
              "Not a diagnosis and not a medical device: always see your provider."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from skinfindings import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"skinfindings: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    from skinfindings.data.manifest import ManifestError

    try:
        return int(module.main(rest) or 0)
    except ManifestError as exc:  # a malformed manifest, whichever command read it: its file and line, no traceback
        print(f"skinfindings {name}: {exc}", file=sys.stderr)
        return 2
    except csv.Error as exc:  # a CSV the command's own reader did not expect to be broken
        print(f"skinfindings {name}: a CSV file could not be read ({exc})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
