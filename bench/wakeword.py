"""Wake word accuracy on real recordings: the bundled "alexa" model on ../shared/data/wakeword/.

    python -m bench.wakeword [--model alexa] [--limit N]

Positives: the 329 "alexa" clips of Picovoice's wake-word benchmark (crowd-sourced, 50+
speakers). Negatives: the other keywords' clips (computer, jarvis, smart mirror, snowboy, view
glass; 20 each), the 45 s multiple-keywords recording, the English ASR test clips and 2 minutes
of kitchen noise. Clips are streamed one after another with 1.5 s of silence between them (no
reset, as a speaker hears them; FLACs libsndfile cannot decode are read with PyAV); a clip is detected when the probability reaches the threshold
between its start and 1 s after its end. Detection rates and false accepts are reported for
several thresholds. Writes bench/results/wakeword.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.provenance import write_result
from edge.audio.stream import to_int16
from edge.audio.wavio import AudioInputError, read_request_audio
from edge.core.settings import WakeSettings
from edge.listen.wake import WakeWordDetector

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WWB = DATA / "wakeword" / "picovoice_wwb"
THRESHOLDS = (0.3, 0.5, 0.7, 0.9)
GAP_SECONDS = 1.5
FRAME = 1280


def load_clip(path: Path) -> np.ndarray:
    """int16 16 kHz mono; FLACs libsndfile rejects ("lost sync": 14 of the alexa clips) are decoded with PyAV."""
    try:
        return to_int16(read_request_audio(path, 16000, max_seconds=300.0).samples)
    except AudioInputError:
        import av

        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
            pieces = [out.to_ndarray().reshape(-1) for frame in container.decode(stream) for out in resampler.resample(frame)]
        return np.concatenate(pieces).astype(np.int16)


def clip_maxima(detector: WakeWordDetector, paths: list[Path], unreadable: list[str]) -> list[float]:
    """The highest wake probability from each clip's start to 1 s after its end (unreadable
    clips are listed in `unreadable` and skipped)."""
    gap = np.zeros(int(GAP_SECONDS * 16000), np.int16)
    maxima = []
    for path in paths:
        try:
            samples = load_clip(path)
        except (AudioInputError, OSError, ValueError) as error:  # PyAV raises OSError subclasses
            unreadable.append(f"{path}: {error}")
            continue
        stream = np.concatenate([samples, gap])
        window_end = len(samples) + 16000
        best = 0.0
        for start in range(0, len(stream), FRAME):
            score = detector.scores(stream[start : start + FRAME])
            if start < window_end:
                best = max(best, score)
        maxima.append(best)
    return maxima


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="alexa")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N positive clips (0: all)")
    args = parser.parse_args()
    detector = WakeWordDetector(WakeSettings(model=args.model))
    positives = sorted((WWB / "alexa").glob("*.flac"))
    if args.limit:
        positives = positives[: args.limit]
    negative_sets = {name: sorted((WWB / name).glob("*.wav")) for name in ("computer", "jarvis", "smart_mirror", "snowboy", "view_glass")}
    negative_sets["multiple_keywords_en"] = [WWB / "multiple_keywords_en.wav"]
    negative_sets["asr_testclips_en"] = sorted((DATA / "asr_testclips" / "en").glob("*.*"))
    negative_sets["kitchen_noise"] = [DATA / "picovoice_speech_to_intent" / "noise" / "kitchen.wav"]
    unreadable: list[str] = []
    positive_maxima = clip_maxima(detector, positives, unreadable)
    positives_end = detector.fed_seconds
    negatives = {name: clip_maxima(detector, paths, unreadable) for name, paths in negative_sets.items()}
    negative_seconds = detector.fed_seconds - positives_end  # with the 1.5 s gaps
    by_threshold = {}
    for threshold in THRESHOLDS:
        by_threshold[str(threshold)] = {
            "detection_rate": round(float(np.mean([m >= threshold for m in positive_maxima])), 4),
            "detection_rate_unreadable_as_misses": round(sum(m >= threshold for m in positive_maxima) / len(positives), 4),
            "detected": int(sum(m >= threshold for m in positive_maxima)),
            "false_accepts": {name: int(sum(m >= threshold for m in maxima)) for name, maxima in negatives.items()},
            "false_accept_clips": int(sum(m >= threshold for maxima in negatives.values() for m in maxima)),
        }
    result = {
        "model": args.model, "positives": len(positives), "positives_readable": len(positive_maxima),
        "unreadable": unreadable,
        "negatives": {name: len(paths) for name, paths in negative_sets.items()},
        "negative_audio_seconds": round(negative_seconds, 1), "thresholds": by_threshold,
        "note": "a negative clip counts once however often it fires; a long file (noise, multiple keywords) is one clip",
    }
    path = write_result("wakeword", result, ("edge-voice", "pyopen-wakeword", "numpy"))
    for threshold, row in by_threshold.items():
        print(threshold, row)
    print(f"written {path}")


if __name__ == "__main__":
    main()
