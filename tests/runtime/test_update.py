"""`distill sign` / `distill promote --sign` and `edge update`: a signed bundle is verified, self-checked
and swapped in; tampered, truncated, unsigned and foreign-signed packages are refused with one line
and nothing changes; a bundle whose self-check fails is refused; --rollback goes back."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytest.importorskip("cryptography", reason="signed bundles need the cryptography package (a runtime dependency)")
pytest.importorskip("zstandard", reason="signed bundles need the zstandard package (a runtime dependency)")

from helpers.tiny_bundle import SET_CSV, build_tiny_bundle  # noqa: E402

from distill.cli import main as distill  # noqa: E402
from edge.nlu.signed import SIGNATURE, generate_keypair, write_package  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(tmp_path):
    """A speaker (models dir with `current` -> the tiny bundle, trusted keys), a publisher's key and
    a regression registry of four sentences."""
    pytest.importorskip("onnx", reason="building the tiny test bundle needs the onnx package")
    models = tmp_path / "speaker" / "models"
    build_tiny_bundle(models / "tiny-v1")
    (models / "current").symlink_to("tiny-v1")
    keys = tmp_path / "speaker" / "trusted-keys"
    keys.mkdir()
    public = generate_keypair(tmp_path / "publisher" / "acme")
    (keys / "acme.pub").write_bytes(public.read_bytes())
    (tmp_path / "reg" / "sets").mkdir(parents=True)
    (tmp_path / "reg" / "sets" / "home.csv").write_text(SET_CSV)
    (tmp_path / "reg" / "registry.toml").write_text('[[set]]\nname = "tiny-home"\ndataset = "sets/home.csv"\n')
    return {"root": tmp_path, "models": models, "keys": keys, "key": tmp_path / "publisher" / "acme",
            "registry": tmp_path / "reg" / "registry.toml"}


def sign(world, bundle: Path, out: Path, *extra: str) -> Path:
    assert distill(["sign", str(bundle), "--key", str(world["key"]), "--out", str(out),
                    "--registry", str(world["registry"]), *extra]) == 0
    return out


def edge_update(world, *args: str, budget_ms: float = 1000.0):
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "edge", "update", *args, "--set", f"update.models_dir={world['models']}",
               "--set", f"update.trusted_keys_dir={world['keys']}", "--set", f"update.latency_budget_ms={budget_ms}"]
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)


def state(models: Path) -> dict[str, str]:
    """Every entry of the models folder: links with their targets, folders with their file count."""
    return {p.name: (f"-> {os.readlink(p)}" if p.is_symlink() else f"{len(list(p.iterdir()))} files")
            for p in sorted(models.iterdir())}


def test_a_signed_bundle_is_installed_then_rolled_back(world):
    package = sign(world, build_tiny_bundle(world["root"] / "build" / "tiny-v2", oos_threshold=0.4),
                   world["root"] / "tiny-v2.tar.zst")
    done = edge_update(world, str(package))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("installed: current -> tiny-v2-") and "self-check: 4/4 regression sentences" in done.stdout
    installed = os.readlink(world["models"] / "current")
    assert installed.startswith("tiny-v2-") and os.readlink(world["models"] / "previous") == "tiny-v1"
    assert (world["models"] / installed / "regression.jsonl").is_file()
    again = edge_update(world, str(package))
    assert again.returncode == 0 and again.stdout.startswith("already installed")
    back = edge_update(world, "--rollback")
    assert back.returncode == 0 and back.stdout.startswith("rolled back: current -> tiny-v1")
    assert os.readlink(world["models"] / "current") == "tiny-v1" and os.readlink(world["models"] / "previous") == installed


def refused(world, package: Path, expected: str, budget_ms: float = 1000.0) -> None:
    before = state(world["models"])
    done = edge_update(world, str(package), budget_ms=budget_ms)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge: ") and expected in lines[0], lines
    assert state(world["models"]) == before  # nothing changed, nothing left behind


def _rewrite(package: Path, out: Path, change) -> Path:
    """Recompress `package` with `change(name, data) -> data | None` applied (None drops the member)."""
    import zstandard

    with package.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream, \
            tarfile.open(fileobj=stream, mode="r|") as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]
    with out.open("wb") as raw, zstandard.ZstdCompressor().stream_writer(raw) as compressed, \
            tarfile.open(fileobj=compressed, mode="w|") as archive:
        for name, data in members:
            data = change(name, data)
            if data is not None:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return out


def test_tampered_truncated_unsigned_and_foreign_packages_are_refused(world):
    good = sign(world, build_tiny_bundle(world["root"] / "build" / "tiny-v2", oos_threshold=0.4),
                world["root"] / "good.tar.zst")
    flipped = _rewrite(good, world["root"] / "tampered.tar.zst",
                       lambda name, data: data[:-1] + bytes([data[-1] ^ 1]) if name == "bundle/model.onnx" else data)
    refused(world, flipped, "was tampered with: model.onnx does not match its signed sha256")
    extra = _rewrite(good, world["root"] / "extra.tar.zst", lambda name, data: data)
    with tarfile.open(world["root"] / "plain.tar", "w"):  # not zstd at all
        pass
    refused(world, world["root"] / "plain.tar", "is truncated or not a .tar.zst bundle")
    truncated = world["root"] / "truncated.tar.zst"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    refused(world, truncated, "is truncated")
    unsigned = _rewrite(good, world["root"] / "unsigned.tar.zst", lambda name, data: None if name == SIGNATURE else data)
    refused(world, unsigned, "is unsigned")
    generate_keypair(world["root"] / "mallory" / "key")
    foreign = world["root"] / "foreign.tar.zst"
    write_package(world["root"] / "build" / "tiny-v2", (world["root"] / "mallory" / "key").read_bytes(), foreign,
                  [{"text": "the", "intent": "out_of_scope"}], 1.0)
    refused(world, foreign, "the signature matches none of the 1 trusted key(s)")
    assert edge_update(world, str(extra)).returncode == 0  # the untouched copy still installs


def test_a_bundle_that_fails_its_self_check_is_refused(world):
    slow = sign(world, build_tiny_bundle(world["root"] / "build" / "tiny-v2", oos_threshold=0.4),
                world["root"] / "slow.tar.zst")
    refused(world, slow, "is too slow on this device", budget_ms=0.0001)
    # signed where it got 3 of 4 right, but the device floor asks for more than 75%
    worse = sign(world, build_tiny_bundle(world["root"] / "build" / "tiny-v3", oos_threshold=0.99),
                 world["root"] / "worse.tar.zst")
    before = state(world["models"])
    done = edge_update(world, str(worse), "--set", "update.min_regression_accuracy=0.9")
    assert done.returncode == 2 and "failed its self-check: self-check: 3/4 regression sentences" in done.stderr
    assert state(world["models"]) == before


def test_rollback_without_a_previous_bundle_says_so(world):
    done = edge_update(world, "--rollback")
    assert done.returncode == 1 and "nothing to roll back to" in done.stderr


def test_distill_promote_signs_the_promoted_bundle(world, capsys):
    deployed = world["root"] / "serve" / "intent"
    build_tiny_bundle(deployed)
    candidate = build_tiny_bundle(world["root"] / "candidate", oos_threshold=0.4)
    code = distill(["promote", str(candidate), "--deployed", str(deployed), "--registry", str(world["registry"]),
                    "--sign", str(world["key"])])
    output = capsys.readouterr().out
    assert code == 0 and "signed " in output and "4 regression sentences at 100.0%" in output
    package = deployed.with_name("intent.tar.zst")
    done = edge_update(world, str(package))
    assert done.returncode == 0 and os.readlink(world["models"] / "current").startswith("intent-"), done.stderr
