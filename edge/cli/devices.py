"""`edge devices` (board, profile, providers, the choice and why) and `edge devices bench`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge.core.errors import ExitCode
from edge.core.settings import Settings

BENCH_PACKAGES = ("onnxruntime", "onnxruntime-openvino", "faster-whisper", "ctranslate2", "piper-tts", "tokenizers",
                  "numpy", "edge-voice")


ACTIONS = ("show", "bench")


def add_commands(commands, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser(
        "devices", help="the detected board, its profile and providers; per-stage benchmarks",
        description="`edge devices show` (the default): the detected board, the device profile in use, the "
        "onnxruntime providers installed, and which ones the stages use and why. `edge devices bench` "
        "measures each stage here.",
    )
    actions = group.add_subparsers(dest="devices_command", required=True, metavar="ACTION")
    show = actions.add_parser("show", parents=[common], help="the board, its profile and the providers in use")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.add_argument("--root", type=Path, default=Path("/"), help=argparse.SUPPRESS)  # fake /proc for tests
    show.set_defaults(handler=_run_show)
    bench = actions.add_parser(
        "bench", parents=[common], help="per-stage latency (VAD, ASR, NLU, TTS) and memory on this machine",
        description="Measure VAD, ASR, NLU (per available provider) and TTS latency and peak memory, and write "
        "bench/results/devices_<profile>.json with the machine, versions and command (from a checkout).",
    )
    bench.add_argument("--sentences", type=int, default=200, help="HWU64 test sentences for NLU (default 200)")
    bench.add_argument("--data", type=Path, help="shared data folder (default $EDGE_DATA_DIR, else ../shared/data)")
    bench.add_argument("--stages", default="vad,asr,nlu,tts", help="comma-separated stages (default all)")
    bench.add_argument("--name", default="", help="result name (default devices_<profile>): bench/results/NAME.json")
    bench.add_argument("--root", type=Path, default=Path("/"), help=argparse.SUPPRESS)
    bench.set_defaults(handler=_run_bench)


def _resolve(args: argparse.Namespace, settings: Settings):
    from devices.detect import UnknownProfileError, resolve
    from devices.profile import ProfileError

    try:
        return resolve(settings.device.profile, settings.device.providers, root=args.root)
    except (ProfileError, UnknownProfileError) as error:
        print(f"edge devices: {error}", file=sys.stderr)
        return None


def describe(detection, choice, available: tuple[str, ...]) -> dict[str, Any]:
    profile, facts = detection.profile, detection.facts
    return {
        "board": {"device_tree_model": facts.device_tree_model, "cpu_model": facts.cpu_model,
                  "machine": facts.machine, "cores": facts.cores},
        "profile": profile.name,
        "profile_description": profile.description,
        "profile_reason": detection.reason,
        "profile_file": str(profile.source),
        "accelerator": profile.accelerator,
        "quantization": {"format": profile.quantization.format, "activations": profile.quantization.activations,
                         "optimum_preset": profile.quantization.optimum_preset,
                         "target_format": profile.quantization.target_format},
        "memory_budget_mib": profile.memory_budget_mib,
        "profile_providers": list(profile.provider_names),
        "available_providers": list(available),
        "chosen_providers": list(choice.names),
        "missing_providers": list(choice.missing),
        "choice_reason": choice.reason,
    }


def accelerator_status(accelerator: str, settings: Settings) -> str:
    """Whether the intent model will run on the profile's NPU runtime, and if not, why ("" without one)."""
    if accelerator != "rknn-toolkit-lite2":
        return f"{accelerator}: not used by the intent model" if accelerator else ""
    import importlib.util

    from edge.nlu.runtime import bundle_dir_of

    model = bundle_dir_of(settings.nlu) / "model.rknn"
    installed = importlib.util.find_spec("rknnlite") is not None
    if model.is_file() and installed:
        return f"{model} on the NPU through {accelerator}"
    missing = [f"{model} (make one with python -m bench.devices.rknn_check)"] if not model.is_file() else []
    missing += [f"{accelerator} (pip install {accelerator})"] if not installed else []
    return f"model.onnx on the CPU: missing {' and '.join(missing)}"


def _run_show(args: argparse.Namespace, settings: Settings) -> int:
    from devices.detect import available_providers

    resolved = _resolve(args, settings)
    if resolved is None:
        return ExitCode.BAD_INPUT
    info = describe(*resolved, available_providers())
    info["accelerator_status"] = accelerator_status(resolved[0].profile.accelerator, settings)
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
        return 0
    board = info["board"]
    print(f"board:      {board['device_tree_model'] or board['cpu_model'] or 'unknown'} "
          f"({board['machine']}, {board['cores']} cores)")
    print(f"profile:    {info['profile']} - {info['profile_description']}")
    print(f"            because {info['profile_reason']}")
    quantization = info["quantization"]
    print(f"model:      {quantization['format']} INT8, {quantization['activations']} activations, "
          f"loads {quantization['target_format']}" + (f" via {info['accelerator']}" if info["accelerator"] else ""))
    if info["accelerator_status"]:
        print(f"npu:        {info['accelerator_status']}")
    print(f"providers:  wanted {', '.join(info['profile_providers'])}")
    print(f"            installed {', '.join(info['available_providers'])}")
    print(f"            using {', '.join(info['chosen_providers'])} ({info['choice_reason']})")
    return 0


def _run_bench(args: argparse.Namespace, settings: Settings) -> int:
    from devices.detect import available_providers, choose_providers
    from edge.runtime.demo import demo_turns

    resolved = _resolve(args, settings)
    bench = _from_checkout("bench.devices.bench")
    provenance = _from_checkout("bench.provenance")
    if resolved is None or bench is None or provenance is None:
        return ExitCode.BAD_INPUT
    write_result = provenance.write_result
    detection, choice = resolved
    available = available_providers()
    stages = {stage.strip() for stage in args.stages.split(",") if stage.strip()}
    tsv = bench.hwu64_test_file(args.data)
    if "nlu" in stages and not tsv.is_file():
        print(f"edge devices bench: {tsv} is missing; point --data (or $EDGE_DATA_DIR) at the shared data",
              file=sys.stderr)
        return ExitCode.BAD_INPUT
    wavs = [turn.wav for turn in demo_turns()]
    results: dict[str, Any] = {}
    if "vad" in stages:
        results["vad"] = bench.run_stage("vad", lambda: bench.bench_vad(settings, wavs))
    if "asr" in stages:
        engines = dict.fromkeys(("faster-whisper", settings.asr.engine))
        results["asr"] = {
            engine: bench.run_stage(f"asr/{engine}", lambda engine=engine: bench.bench_asr(settings, wavs, engine))
            for engine in engines
        }
    if "nlu" in stages:
        sentences = bench.read_sentences(tsv, args.sentences)
        nlu_settings = _one_thread(settings)
        results["nlu"] = {
            name: bench.run_stage(f"nlu/{name}", lambda name=name: bench.bench_nlu(
                nlu_settings, choose_providers(detection.profile, available, override=(name,)).providers, sentences))
            for name in available
        }
    if "tts" in stages:
        results["tts"] = bench.run_stage("tts", lambda: bench.bench_tts(settings))
    document = {"device": describe(detection, choice, available), "stages": results}
    path = write_result(args.name or f"devices_{detection.profile.name}", document, BENCH_PACKAGES)
    print(json.dumps(results, indent=2))
    print(f"written to {path}")
    return ExitCode.FAILED if _any_skipped(results) else 0


def _any_skipped(results: dict[str, Any]) -> bool:
    return any("skipped" in value or _any_skipped(value) for value in results.values() if isinstance(value, dict))


def _one_thread(settings: Settings):
    from dataclasses import replace

    return replace(settings.nlu, intra_op_threads=1)


def _from_checkout(name: str):
    """A module of the repository's bench/ (benchmarks live in a checkout, not in the installed
    package, so the runtime never imports them statically); None with one line when missing."""
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        checkout = Path(__file__).resolve().parents[2]
        if (checkout / "bench" / "__init__.py").is_file():
            sys.path.insert(0, str(checkout))
            return importlib.import_module(name)
        print(f"edge devices bench: {name} is missing; run it from a checkout of the repository", file=sys.stderr)
        return None
