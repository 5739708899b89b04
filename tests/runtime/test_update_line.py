"""Shipping to a product line: `distill promote --product NAME --sign KEY --publish SOURCE` (and `distill
publish`) put a signed package on the line; the line's speakers poll the source (a folder, or a real
HTTP server on 127.0.0.1) with `edge update --check` or the service's poll and end up on the new
version; a speaker of another line does not; a tampered package, a bad index, a redirect, a
package too large or older than the one in service is refused and the old bundle keeps serving;
`edge doctor` and /metrics report the version."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("cryptography", reason="signed bundles need the cryptography package (a runtime dependency)")
pytest.importorskip("zstandard", reason="signed bundles need the zstandard package (a runtime dependency)")

from helpers.tiny_bundle import SET_CSV, build_tiny_bundle  # noqa: E402

from distill.cli import main as distill  # noqa: E402
from edge.core.settings import load_settings  # noqa: E402
from edge.nlu.line import LineIndexError  # noqa: E402
from edge.nlu.signed import PackageRefused, generate_keypair, installed_version  # noqa: E402
from edge.runtime.doctor import run_checks  # noqa: E402
from edge.runtime.line import UpdatePoller, UpdateSourceError, check_source, serving_version, update_poller  # noqa: E402
from edge.runtime.metrics import Metrics  # noqa: E402
from edge.runtime.update import UpdateError, exclusive, install_package  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = 'name = "{name}"\nskills = ["{skill}"]\ndevice_profile = "{profile}"\n\n' \
          '[[set]]\nname = "{name}-own"\ndataset = "own.csv"\nmetrics = ["accuracy"]\n'
SPEAKERS = {"kitchen-a": "kitchen", "kitchen-b": "kitchen", "hotel-101": "hotel-room"}


@pytest.fixture
def world(tmp_path):
    """Three speakers (two kitchens, one hotel room), each on the tiny bundle `tiny-v1` and trusting the
    publisher's key; a registry with the two products; an empty update source folder."""
    pytest.importorskip("onnx", reason="building the tiny test bundle needs the onnx package")
    public = generate_keypair(tmp_path / "publisher" / "acme")
    for speaker in SPEAKERS:
        models = tmp_path / speaker / "models"
        build_tiny_bundle(models / "tiny-v1")
        (models / "current").symlink_to("tiny-v1")
        (tmp_path / speaker / "keys").mkdir()
        (tmp_path / speaker / "keys" / "acme.pub").write_bytes(public.read_bytes())
    registry = tmp_path / "regression" / "registry.toml"
    registry.parent.mkdir()
    registry.write_text('[[set]]\nname = "tiny-home"\ndataset = "home.csv"\n')
    (registry.parent / "home.csv").write_text(SET_CSV)
    for name, skill, profile in (("kitchen", "weather", "rpi5"), ("hotel-room", "alarms", "rpi4")):
        (registry.parent / name).mkdir()
        (registry.parent / name / "product.toml").write_text(PRODUCT.format(name=name, skill=skill, profile=profile))
        (registry.parent / name / "own.csv").write_text(SET_CSV)
    (tmp_path / "source").mkdir()
    return {"root": tmp_path, "key": tmp_path / "publisher" / "acme", "registry": registry, "source": tmp_path / "source"}


def settings_of(world, speaker: str, source: str | None = None, **extra):
    models = world["root"] / speaker / "models"
    overrides = {"update.models_dir": str(models), "update.trusted_keys_dir": str(world["root"] / speaker / "keys"),
                 "update.latency_budget_ms": 1000.0, "update.product": SPEAKERS[speaker],
                 "update.source": source or str(world["source"]), "nlu.bundle_dir": str(models / "current"),
                 "cast.enabled": False, "skills.database_path": str(world["root"] / speaker / "db.sqlite3"), **extra}
    return load_settings(environ={}, overrides=overrides)


def current(world, speaker: str) -> str:
    return os.readlink(world["root"] / speaker / "models" / "current")


def state(world, speaker: str) -> dict[str, str]:
    models = world["root"] / speaker / "models"
    return {p.name: (f"-> {os.readlink(p)}" if p.is_symlink() else f"{len(list(p.iterdir()))} files")
            for p in sorted(models.iterdir())}


def sign(world, name: str, product: str | None, **bundle) -> Path:
    folder = build_tiny_bundle(world["root"] / "build" / name, **bundle)
    out = world["root"] / "packages" / f"{name}.tar.zst"
    assert distill(["sign", str(folder), "--key", str(world["key"]), "--out", str(out), "--registry",
                    str(world["registry"]), *(["--product", product] if product else [])]) == 0
    return out


def publish(world, package: Path, *extra: str) -> dict:
    assert distill(["publish", str(package), "--source", str(world["source"]), *extra]) == 0
    return index_of(world, "kitchen")


def index_of(world, product: str) -> dict:
    return json.loads((world["source"] / product / "latest.json").read_text())


@pytest.fixture
def http_source(world):
    """The source folder served by the standard library's HTTP server on 127.0.0.1."""
    handler = functools.partial(_QuietFiles, directory=str(world["source"]))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/updates"
    server.shutdown()
    server.server_close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def translate_path(self, path: str) -> str:
        return super().translate_path(path.removeprefix("/updates"))  # the source at /updates/

    def log_message(self, format, *args):  # noqa: A002
        pass


def test_promote_publishes_to_the_line_and_both_kitchens_follow_it_but_not_the_hotel(world, capsys):
    deployed = build_tiny_bundle(world["root"] / "serve" / "intent")
    candidate = build_tiny_bundle(world["root"] / "candidate", oos_threshold=0.4)
    code = distill(["promote", str(candidate), "--deployed", str(deployed), "--registry", str(world["registry"]),
                    "--product", "kitchen", "--sign", str(world["key"]), "--publish", str(world["source"])])
    output = capsys.readouterr().out
    assert code == 0 and "for the 'kitchen' line" in output and "published intent-" in output, output
    index = index_of(world, "kitchen")
    assert index["product"] == "kitchen" and index["version"].startswith("intent-")
    assert (world["source"] / "kitchen" / index["package"]).stat().st_size == index["size_bytes"]
    assert sorted(p.name for p in (world["source"] / "kitchen").iterdir()) == sorted(["latest.json", index["package"]])

    hotel_before = state(world, "hotel-101")
    for speaker in ("kitchen-a", "kitchen-b"):
        outcome = check_source(settings_of(world, speaker))
        assert outcome.action == "installed" and outcome.previous == "tiny-v1", outcome
        assert current(world, speaker) == index["version"]
        assert check_source(settings_of(world, speaker)).action == "already installed"
        version = serving_version(settings_of(world, speaker))
        assert (version.version, version.product, version.signed) == (index["version"], "kitchen", True)
    with pytest.raises(UpdateSourceError, match="hotel-room/latest.json does not exist"):
        check_source(settings_of(world, "hotel-101"))
    # the kitchen's index copied to the hotel's folder: refused for its product
    (world["source"] / "hotel-room").mkdir()
    (world["source"] / "hotel-room" / "latest.json").write_text(json.dumps(index))
    with pytest.raises(LineIndexError, match="the index is for the product line 'kitchen', this speaker is on 'hotel-room'"):
        check_source(settings_of(world, "hotel-101"))
    # ... and rewritten to say hotel-room, with the package beside it: the signed product refuses it
    (world["source"] / "hotel-room" / index["package"]).write_bytes((world["source"] / "kitchen" / index["package"]).read_bytes())
    (world["source"] / "hotel-room" / "latest.json").write_text(json.dumps({**index, "product": "hotel-room"}))
    with pytest.raises(PackageRefused, match="is for the product line 'kitchen', this speaker is on 'hotel-room'"):
        check_source(settings_of(world, "hotel-101"))
    # by hand too
    with pytest.raises(PackageRefused, match="is for the product line 'kitchen'"):
        install_package(world["source"] / "kitchen" / index["package"], settings_of(world, "hotel-101"))
    assert state(world, "hotel-101") == hotel_before and current(world, "hotel-101") == "tiny-v1"


def test_speakers_poll_a_real_http_source_and_report_the_version_in_doctor_and_metrics(world, http_source):
    index = publish(world, sign(world, "kitchen-v2", "kitchen", oos_threshold=0.4))
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    models = world["root"] / "kitchen-a" / "models"
    command = [sys.executable, "-m", "edge", "update", "--check", "--set", f"update.models_dir={models}",
               "--set", f"update.trusted_keys_dir={world['root'] / 'kitchen-a' / 'keys'}",
               "--set", "update.product=kitchen", "--set", f"update.source={http_source}",
               "--set", "update.latency_budget_ms=1000"]
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"installed: current -> {index['version']} (previous: tiny-v1); self-check: 4/4")
    again = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.startswith(f"already installed: current -> {index['version']}")

    metrics = Metrics()
    poller = UpdatePoller(settings_of(world, "kitchen-b", http_source), metrics)
    assert poller.check_once() == "installed" and current(world, "kitchen-b") == index["version"]
    assert poller.check_once() == "already_installed"
    metrics.set_bundle(serving_version(settings_of(world, "kitchen-b")))
    text = metrics.render()
    sha256 = json.loads((models / index["version"] / "SIGNED.json").read_text())["files"]["model.onnx"]["sha256"]
    assert f'edge_bundle_info{{product="kitchen",version="{index["version"]}",sha256="{sha256}"}} 1' in text.splitlines()
    assert f'edge_bundle_pending_info{{version="{index["version"]}"}} 1' in text.splitlines()
    assert 'edge_update_checks_total{outcome="installed"} 1' in text and \
        'edge_update_checks_total{outcome="already_installed"} 1' in text

    checks = {check.name: check for check in run_checks(settings_of(world, "kitchen-b", http_source))}
    assert checks["models/intent"].status == "ok"
    assert checks["models/intent"].detail.startswith(f"version {index['version']}, 'kitchen' line (3 intents, signed ")
    assert checks["updates/line"].status == "ok" and f"its latest, {index['version']}, is installed" in checks["updates/line"].detail
    newer = publish(world, sign(world, "kitchen-v3", "kitchen", oos_threshold=0.45))
    behind = {check.name: check for check in run_checks(settings_of(world, "kitchen-b", http_source))}["updates/line"]
    assert behind.status == "warn" and f"{newer['version']} published at {http_source}/kitchen/latest.json" in behind.detail
    assert behind.fix.startswith("edge update --check")


def test_a_tampered_package_or_a_bad_index_is_refused_and_the_old_bundle_keeps_serving(world, http_source):
    index = publish(world, sign(world, "kitchen-v2", "kitchen", oos_threshold=0.4))
    folder = world["source"] / "kitchen"
    package = folder / index["package"]
    good = package.read_bytes()
    before = state(world, "kitchen-a")

    def refused(error: type[Exception], expected: str, **extra) -> None:
        with pytest.raises(error, match=expected):
            check_source(settings_of(world, "kitchen-a", http_source, **extra))
        assert state(world, "kitchen-a") == before  # nothing changed, nothing left behind
        assert serving_version(settings_of(world, "kitchen-a")).version == "tiny-v1"

    package.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    refused(LineIndexError, "does not match its index")
    tampered = _flip_a_model_byte(good)  # and the index rewritten to match: the signed sha256s still refuse it
    package.write_bytes(tampered)
    (folder / "latest.json").write_text(json.dumps({**index, "size_bytes": len(tampered),
                                                    "sha256": hashlib.sha256(tampered).hexdigest()}))
    refused(PackageRefused, "was tampered with: model.onnx does not match its signed sha256")
    package.write_bytes(good)
    (folder / "latest.json").write_text("{not json")
    refused(LineIndexError, "the index is not JSON")
    (folder / "latest.json").write_text(json.dumps({**index, "package": "../kitchen/x.tar.zst"}))
    refused(LineIndexError, "bad 'package' in the index: '../kitchen/x.tar.zst'")
    (folder / "latest.json").write_text(json.dumps({**index, "version": "intent-0badc0de"}))
    refused(PackageRefused, f"names version intent-0badc0de but {index['package']} is {index['version']}")
    (folder / "latest.json").write_text(json.dumps(index))
    refused(UpdateSourceError, "over update.max_download_mb", **{"update.max_download_mb": 0})
    refused(UpdateSourceError, "plain http to 192.0.2.1 is refused; use https",
            **{"update.source": "http://192.0.2.1/updates"})
    refused(LineIndexError, "a folder or an http\\(s\\) URL, nothing else", **{"update.source": "ftp://127.0.0.1/updates"})
    with exclusive(world["root"] / "kitchen-a" / "models"):  # `edge update` by hand, in the middle of its swap
        refused(UpdateError, "another update is running in")
    assert check_source(settings_of(world, "kitchen-a", http_source)).action == "installed"  # the real one still installs


def _flip_a_model_byte(package: bytes) -> bytes:
    """The package recompressed with the last byte of bundle/model.onnx flipped."""
    import zstandard

    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(package)) as stream, \
            tarfile.open(fileobj=stream, mode="r|") as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]
    out = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(out, closefd=False) as compressed, \
            tarfile.open(fileobj=compressed, mode="w|") as archive:
        for name, data in members:
            data = data[:-1] + bytes([data[-1] ^ 1]) if name == "bundle/model.onnx" else data
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_a_redirect_is_not_followed(world):
    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere/latest.json")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(UpdateSourceError, match="answered HTTP 302, a redirect to http://127.0.0.1:9/elsewhere"):
            check_source(settings_of(world, "kitchen-a", f"http://127.0.0.1:{server.server_address[1]}"))
    finally:
        server.shutdown()
        server.server_close()


def test_an_older_package_is_not_installed_over_a_newer_one(world):
    older = sign(world, "kitchen-v2", "kitchen", oos_threshold=0.4)
    time.sleep(1.1)  # SIGNED.json's `created` has seconds
    newer = sign(world, "kitchen-v3", "kitchen", oos_threshold=0.45)
    publish(world, newer)
    assert check_source(settings_of(world, "kitchen-a")).action == "installed"
    serving = current(world, "kitchen-a")
    index = publish(world, older)  # replayed by whoever controls the source
    with pytest.raises(PackageRefused, match=f"{index['version']} was signed .* before the bundle in service"):
        check_source(settings_of(world, "kitchen-a"))
    assert current(world, "kitchen-a") == serving


def test_the_service_poll_installs_the_lines_new_bundle(world):
    index = publish(world, sign(world, "kitchen-v2", "kitchen", oos_threshold=0.4))
    metrics = Metrics()
    with update_poller(settings_of(world, "kitchen-a", **{"update.poll_minutes": 0.002}), metrics) as poller:
        assert poller is not None
        deadline = time.monotonic() + 60
        while current(world, "kitchen-a") != index["version"] and time.monotonic() < deadline:
            time.sleep(0.05)
    assert current(world, "kitchen-a") == index["version"]
    assert f'edge_bundle_pending_info{{version="{index["version"]}"}} 1' in metrics.render()
    with update_poller(settings_of(world, "kitchen-a"), metrics) as off:  # update.poll_minutes = 0
        assert off is None


def test_publish_refuses_a_package_for_no_line_or_another_line(world, capsys):
    assert distill(["publish", str(sign(world, "plain", None)), "--source", str(world["source"])]) == 2
    assert "is signed for no product line: sign it with --product NAME" in capsys.readouterr().err
    hotel = sign(world, "hotel", "hotel-room")
    assert distill(["publish", str(hotel), "--source", str(world["source"]), "--product", "kitchen"]) == 2
    assert "is signed for the 'hotel-room' line, not 'kitchen': refused" in capsys.readouterr().err
    assert list(world["source"].iterdir()) == []
    assert distill(["promote", str(world["root"] / "x"), "--deployed", str(world["root"] / "y"),
                    "--registry", str(world["registry"]), "--publish", str(world["source"])]) == 2
    assert "--publish needs --sign KEY and --product NAME" in capsys.readouterr().err


def test_a_bundle_never_packaged_reports_its_folder(world):
    version = installed_version(world["root"] / "kitchen-a" / "models" / "current")
    assert (version.version, version.product, version.signed) == ("tiny-v1", "", False)
    assert len(version.sha256) == 64


def test_a_running_bridge_polls_its_line_and_reports_both_bundles_on_metrics(world):
    """`edge bridge serve` with update.poll_minutes: the poll installs the line's bundle while the process
    keeps serving (and reporting) the one it loaded, and says a restart loads the new one."""
    import socket
    import urllib.request

    from helpers.processes import LineReader, interrupt
    from helpers.whisper_onnx_fixture import ensure_whisper_onnx

    ensure_whisper_onnx()
    index = publish(world, sign(world, "kitchen-v2", "kitchen", oos_threshold=0.4))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    speaker, models = world["root"] / "kitchen-a", world["root"] / "kitchen-a" / "models"
    settings = {"metrics.port": port, "skills.database_path": speaker / "db.sqlite3", "nlu.bundle_dir": models / "current",
                "update.models_dir": models, "update.trusted_keys_dir": speaker / "keys", "update.product": "kitchen",
                "update.source": world["source"], "update.poll_minutes": 0.005, "update.latency_budget_ms": 1000}
    command = [sys.executable, "-m", "edge", "bridge", "serve", "--wyoming", "tcp://127.0.0.1:0", "--no-zeroconf",
               "--no-cast", "-v", *[part for key, value in settings.items() for part in ("--set", f"{key}={value}")]]
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = LineReader(server)
        lines.wait_for("Wyoming on port")
        deadline, text = time.monotonic() + 120, ""
        while 'edge_update_checks_total{outcome="installed"} 1' not in text and time.monotonic() < deadline:
            time.sleep(0.2)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
                text = answer.read().decode()
        loaded = hashlib.sha256((models / "tiny-v1" / "model.onnx").read_bytes()).hexdigest()
        assert f'edge_bundle_info{{product="",version="tiny-v1",sha256="{loaded}"}} 1' in text.splitlines(), text
        assert f'edge_bundle_pending_info{{version="{index["version"]}"}} 1' in text.splitlines()
        assert current(world, "kitchen-a") == index["version"]
    finally:
        interrupt(server)
    assert "the running speaker keeps its loaded bundle until it restarts (systemctl restart edge)" in "".join(lines.errors)
