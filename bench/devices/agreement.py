"""Does the intent bundle give the same answers through another provider or machine?

    python -m bench.devices.agreement --provider CPUExecutionProvider --out cpu.json
    .venv-openvino/bin/python -m bench.devices.agreement --provider OpenVINOExecutionProvider \
        --option device_type=CPU --out ov.json
    python -m bench.devices.agreement --compare cpu.json ov.json

The first two write each HWU64 test sentence's top intent and calibrated confidence, with the
providers the session really used (a provider that is missing falls back to the CPU and the
file says so). `--compare` reports top-intent agreement, both accuracies and the largest
confidence difference. It needs only the runtime (numpy, tokenizers, onnxruntime), so it runs
in a venv with another onnxruntime build, or under ARM64 emulation.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MIN_AGREEMENT = 0.99  # the bar for a device path


def predict_split(provider: str, tsv: Path, bundle_dir: str = "", options: dict[str, str] | None = None) -> dict[str, Any]:
    """`options` replace the provider options of the first profile that lists `provider`."""
    import onnxruntime

    from bench.devices.bench import read_sentences
    from devices.detect import choose_providers
    from devices.profile import load_profiles
    from edge.core.settings import NluSettings
    from edge.nlu.runtime import IntentModel

    profiles = load_profiles()
    profile = next((p for p in profiles.values() if provider in p.provider_names), profiles["generic"])
    choice = choose_providers(profile, override=(provider,))
    if options is not None and provider in choice.names:
        choice = replace(choice, providers=((provider, dict(options)), *choice.providers[1:]))
    model = IntentModel.load(NluSettings(bundle_dir=bundle_dir, intra_op_threads=1), providers=choice.providers)
    rows = []
    for text, label in read_sentences(tsv, 0):
        result = model.predict(text)
        rows.append({"text": text, "label": label, "intent": result.intent, "confidence": result.confidence})
    return {
        "provider_asked": provider,
        "provider_options": dict(choice.providers[0][1]) if isinstance(choice.providers[0], tuple) else {},
        "session_providers": model.session_providers,
        "onnxruntime": onnxruntime.__version__,
        "machine": platform.machine(),
        "bundle": str(model.bundle_dir),
        "accuracy": round(sum(row["intent"] == row["label"] for row in rows) / len(rows), 4),
        "predictions": rows,
    }


def compare(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    a, b = first["predictions"], second["predictions"]
    if [row["text"] for row in a] != [row["text"] for row in b]:
        raise ValueError("the two files hold different sentences; run both on the same split")
    same = sum(x["intent"] == y["intent"] for x, y in zip(a, b, strict=True))
    agreement = same / len(a)
    return {
        "items": len(a),
        "agreement": round(agreement, 4),
        "passes": agreement >= MIN_AGREEMENT,
        "first": _describe(first),
        "second": _describe(second),
        "second_model": second.get("model", ""),
        **({"second_float_reference": second["float_reference"]} if "float_reference" in second else {}),
        "accuracy": {"first": first["accuracy"], "second": second["accuracy"]},
        "accuracy_difference": round(second["accuracy"] - first["accuracy"], 4),
        "max_confidence_difference": round(max(abs(x["confidence"] - y["confidence"]) for x, y in zip(a, b, strict=True)), 4),
        "disagreements": [
            {"text": x["text"], "label": x["label"], "first": x["intent"], "second": y["intent"]}
            for x, y in zip(a, b, strict=True) if x["intent"] != y["intent"]
        ],
    }


def _describe(run: dict[str, Any]) -> str:
    where = f"{run.get('machine', '?')}, onnxruntime {run.get('onnxruntime', '?')}"
    return f"{'+'.join(run['session_providers'])} ({where})"


def main(argv: list[str] | None = None) -> int:
    from bench.devices.bench import hwu64_test_file

    parser = argparse.ArgumentParser(prog="python -m bench.devices.agreement", description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", default="CPUExecutionProvider", help="onnxruntime provider to run the bundle on")
    parser.add_argument("--option", action="append", metavar="KEY=VALUE",
                        help="provider option replacing the profile's, e.g. device_type=CPU (repeatable)")
    parser.add_argument("--bundle", default="", help="bundle folder (default: the shipped one)")
    parser.add_argument("--data", type=Path, help="shared data folder (default $EDGE_DATA_DIR, else ../shared/data)")
    parser.add_argument("--out", type=Path, help="write predictions here (JSON)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("FIRST", "SECOND"), help="compare two outputs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.compare:
        first, second = (json.loads(path.read_text()) for path in args.compare)
        report = compare(first, second)
        print(json.dumps(report, indent=2))
        return 0 if report["passes"] else 1
    tsv = hwu64_test_file(args.data)
    if not tsv.is_file():
        print(f"bench.devices.agreement: {tsv} is missing; point --data (or $EDGE_DATA_DIR) at the shared data",
              file=sys.stderr)
        return 2
    options = dict(item.split("=", 1) for item in args.option) if args.option else None
    result = predict_split(args.provider, tsv, args.bundle, options)
    result["command"] = " ".join([Path(sys.executable).name, "-m", "bench.devices.agreement", *(argv or sys.argv[1:])])
    text = json.dumps(result, indent=1) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(f"{args.provider}: session ran on {result['session_providers']}, accuracy {result['accuracy']} "
          f"over {len(result['predictions'])} sentences")
    return 0


if __name__ == "__main__":
    sys.exit(main())
