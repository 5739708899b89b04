"""The runtime builds its Whisper graphs without torch: the same weights and transcripts as the
PyTorch export, a progress line, and a cache that is rebuilt when stale or partial and never
loaded half-written."""

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.whisper_onnx_fixture import ensure_whisper_onnx

from edge.asr import AsrError, bundled_whisper_dir
from edge.asr.onnx import build as build_module
from edge.asr.onnx.artifacts import MANIFEST, problem, read_manifest
from edge.asr.onnx.build import WhisperBuildError, build, prepared_graphs
from edge.audio.wavio import read_request_audio
from edge.core.settings import AsrSettings
from edge.runtime.demo import demo_turns

ROOT = Path(__file__).resolve().parents[2]
JFK = ROOT.parent / "shared" / "data" / "asr_testclips" / "en" / "jfk.flac"


@pytest.fixture(scope="module")
def built():
    return ensure_whisper_onnx()


@pytest.fixture
def copy_of_built(built, tmp_path):
    folder = tmp_path / "graphs"
    shutil.copytree(built, folder)
    return folder


def _initializers(path: Path) -> list[tuple[str, tuple, bytes]]:
    import onnx
    from onnx import numpy_helper

    arrays = (numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer)
    return sorted((a.dtype.str, a.shape, a.tobytes()) for a in arrays)


@pytest.mark.slow
def test_the_graphs_have_the_torch_exports_int8_weights_and_give_its_transcripts(built, tmp_path):
    pytest.importorskip("torch", reason="the PyTorch reference export needs the distill extra (torch)")
    from distill.whisper_export import export
    from edge.asr.onnx.engine import OnnxWhisperAsr

    reference = export(bundled_whisper_dir(), tmp_path / "torch")
    for name in ("encoder.onnx", "decoder.onnx"):
        ours, theirs = _initializers(built / name), _initializers(reference / name)
        # every tensor of the PyTorch export, byte for byte (ours adds a few small constants torch made nodes)
        missing = [t for t in theirs if t not in ours]
        assert not missing, f"{name}: {len(missing)} of the reference's {len(theirs)} tensors differ"
    free = OnnxWhisperAsr(AsrSettings(onnx_dir=str(built), build_onnx=False), ["alarm", "timer"])
    torch_made = OnnxWhisperAsr(AsrSettings(onnx_dir=str(reference), build_onnx=False), ["alarm", "timer"])
    for path in [turn.wav for turn in demo_turns()] + [JFK]:
        samples = read_request_audio(path).samples
        assert free.transcribe(samples).text == torch_made.transcribe(samples).text


def test_a_build_runs_without_torch_or_distill(tmp_path):
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from edge.asr import bundled_whisper_dir\n"
        "from edge.asr.onnx.build import build\n"
        f"build(bundled_whisper_dir(), Path({str(tmp_path / 'out')!r}))\n"
        "print(json.dumps(sorted(m for m in ('torch', 'transformers', 'distill') if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    manifest = read_manifest(tmp_path / "out")
    assert manifest["builder"].startswith("edge.asr.onnx.build") and manifest["quantization"]["weights"] == "int8"
    assert problem(tmp_path / "out", bundled_whisper_dir() / "model.bin", deep=True) is None


def test_the_runtime_builds_in_a_child_process_and_says_so_on_two_lines(tmp_path):
    code = (
        "import logging\n"
        "logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "from edge.asr.onnx.build import prepared_graphs\n"
        "from edge.core.settings import AsrSettings\n"
        f"prepared_graphs(AsrSettings(onnx_dir={str(tmp_path / 'out')!r}))\n"
        # VmHWM: this process's own peak (ru_maxrss would carry the peak of the pytest process it was forked from)
        "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("building the Whisper ONNX graphs from ") and "first use only" in lines[0]
    assert lines[1].startswith("built the Whisper ONNX graphs in ") and len(lines) == 2  # no quantizer chatter
    assert int(done.stdout) < 300  # MiB: the build's memory was the child's, not this process's


def test_the_graphs_are_what_the_engine_loads(built):
    from edge.asr.onnx.engine import OnnxWhisperAsr

    asr = OnnxWhisperAsr(AsrSettings(onnx_dir=str(built)), ["alarm"])
    assert asr.transcribe(read_request_audio(demo_turns()[0].wav).samples).text.strip()
    assert asr.transcribe(np.zeros(16000, np.float32)).text in ("", ".")


def test_a_truncated_graph_is_never_loaded_and_is_rebuilt(copy_of_built, caplog):
    decoder = copy_of_built / "decoder.onnx"
    decoder.write_bytes(decoder.read_bytes()[: decoder.stat().st_size // 2])
    assert "decoder.onnx is" in problem(copy_of_built)
    with pytest.raises(AsrError, match="cannot be used"):
        prepared_graphs(AsrSettings(onnx_dir=str(copy_of_built), build_onnx=False))
    with caplog.at_level(logging.WARNING, logger="edge.asr.onnx.build"):
        assert prepared_graphs(AsrSettings(onnx_dir=str(copy_of_built))) == copy_of_built
    assert "building the Whisper ONNX graphs" in caplog.text
    assert problem(copy_of_built, deep=True) is None


def test_a_flipped_byte_is_caught_by_the_deep_check(copy_of_built):
    encoder = copy_of_built / "encoder.onnx"
    data = bytearray(encoder.read_bytes())
    data[len(data) // 2] ^= 0xFF
    encoder.write_bytes(bytes(data))
    assert problem(copy_of_built) is None  # the start-up check looks at sizes only
    assert "does not match the sha256" in problem(copy_of_built, deep=True)


def test_graphs_of_another_model_or_format_are_stale(copy_of_built):
    manifest = json.loads((copy_of_built / MANIFEST).read_text())
    model_bin = bundled_whisper_dir() / "model.bin"
    assert problem(copy_of_built, model_bin) is None
    (copy_of_built / MANIFEST).write_text(json.dumps({**manifest, "source_sha256": "0" * 64, "source_bytes": 1}))
    assert "built from another model" in problem(copy_of_built, model_bin)
    (copy_of_built / MANIFEST).write_text(json.dumps({**manifest, "format_version": 3}))
    assert "format 3" in problem(copy_of_built)
    (copy_of_built / MANIFEST).unlink()
    assert problem(copy_of_built) == f"missing: {MANIFEST}"


def test_a_failed_build_leaves_the_old_folder_and_no_scratch(copy_of_built, monkeypatch):
    before = sorted(p.name for p in copy_of_built.parent.iterdir())
    manifest = (copy_of_built / MANIFEST).read_bytes()

    def broken(source, target, op_types, per_channel):
        target.write_bytes(b"half a graph")
        raise build_module.QuantizeError("disk full (simulated)")

    monkeypatch.setattr(build_module, "quantize_weights", broken)
    with pytest.raises(WhisperBuildError, match="disk full"):
        build(bundled_whisper_dir(), copy_of_built, force=True)
    assert (copy_of_built / MANIFEST).read_bytes() == manifest and problem(copy_of_built) is None
    after = sorted(p.name for p in copy_of_built.parent.iterdir())
    assert after == sorted({*before, ".graphs.lock"})  # nothing half-written is left beside it


@pytest.mark.slow
def test_two_processes_starting_together_build_once(tmp_path):
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "from edge.asr.onnx.build import prepared_graphs\n"
        "from edge.core.settings import AsrSettings\n"
        f"print(prepared_graphs(AsrSettings(onnx_dir={str(tmp_path / 'shared')!r})))\n"
    )
    processes = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, cwd=ROOT) for _ in range(2)]
    outputs = [process.communicate(timeout=600) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert sum("building the Whisper ONNX graphs" in err for _, err in outputs) == 1
    assert problem(tmp_path / "shared", deep=True) is None
