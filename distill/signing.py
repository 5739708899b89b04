"""Signed bundle packages for `edge update`: `distill keygen`, `distill sign`, `distill promote --sign`.

    distill keygen keys/acme                                   # keys/acme (private, 600) + keys/acme.pub
    distill sign BUNDLE --key keys/acme --out BUNDLE.tar.zst   # any bundle, with the registry's sentences
    distill promote CANDIDATE --deployed DIR --sign keys/acme  # after a promotion: DIR.tar.zst
    distill sign BUNDLE --key keys/acme --product kitchen      # for one product line only

The package (edge/nlu/signed.py) carries the bundle, up to `--sentences` examples of each
regression set of the registry (its own regression sentences, for the device's self-check) and
the accuracy this bundle gets on exactly those sentences here, and the product line it is for
(`--product`, else the one its promotion.json names, else none), all signed with Ed25519. Copy
`KEY.pub` into the speaker's /etc/edge/trusted-keys/; `distill publish` puts it on its line.
"""

from __future__ import annotations

import argparse
import getpass
import json
import platform
from pathlib import Path

DEFAULT_SENTENCES_PER_SET = 200  # enough to notice a broken model, small enough to check in a second or two


def regression_sentences(registry: Path, data_dir: Path, per_set: int) -> list[dict[str, str]]:
    """(text, intent) of the first `per_set` examples of every set in the registry."""
    from distill.promote import load_examples, load_registry

    sentences = []
    for regression_set in load_registry(registry):
        for example in load_examples(regression_set, data_dir)[:per_set]:
            sentences.append({"text": example.text, "intent": example.intent, "set": regression_set.name})
    return sentences


def accuracy_here(bundle: Path, sentences: list[dict[str, str]]) -> float:
    """The share of `sentences` the bundle gets right, computed as the device's self-check does."""
    from edge.core.settings import NluSettings
    from edge.nlu.runtime import IntentModel

    model = IntentModel.load(NluSettings(bundle_dir=str(bundle)))
    right = 0
    for sentence in sentences:
        result = model.predict(sentence["text"])
        right += (model.manifest.oos_label if result.out_of_scope else result.intent) == sentence["intent"]
    return right / len(sentences) if sentences else 0.0


def sign_bundle(bundle: Path, key: Path, out: Path, registry: Path, data_dir: Path,
                per_set: int = DEFAULT_SENTENCES_PER_SET, product: str | None = None) -> dict:
    """`product`: the line the package is for; None: the one the bundle's promotion.json names, if any."""
    from edge.nlu.bundle import check_bundle_files, read_manifest
    from edge.nlu.signed import write_package

    check_bundle_files(bundle)
    read_manifest(bundle)
    sentences = regression_sentences(registry, data_dir, per_set)
    made_by = f"{getpass.getuser()}@{platform.node()}"
    product = promoted_for(bundle) if product is None else product
    return write_package(bundle, key.read_bytes(), out, sentences, accuracy_here(bundle, sentences), made_by, product)


def promoted_for(bundle: Path) -> str:
    """The product line the bundle was promoted for (`distill promote --product`), "" when none."""
    try:
        record = json.loads((bundle / "promotion.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    product = record.get("product") if isinstance(record, dict) else None
    return str(product.get("name") or "") if isinstance(product, dict) else ""


def _describe(manifest: dict, out: Path) -> str:
    check = manifest["self_check"]
    line = f", for the {manifest['product']!r} line" if manifest.get("product") else ""
    return (f"signed {out} ({manifest['name']}, {len(manifest['files'])} files, {check['count']} regression sentences "
            f"at {check['expected_accuracy']:.1%}{line})")


class KeygenCommand:
    name = "keygen"
    help = "make an Ed25519 key pair for signing bundles (KEY and KEY.pub)"

    def register(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("key", type=Path, help="where the private key goes; the public key is KEY.pub")

    def run(self, args: argparse.Namespace) -> int:
        from edge.nlu.signed import generate_keypair

        if args.key.exists():
            print(f"distill keygen: {args.key} exists; not overwriting a key", flush=True)
            return 2
        public = generate_keypair(args.key)
        print(f"wrote {args.key} (private: keep it off the speakers) and {public} (copy into /etc/edge/trusted-keys/)")
        return 0


class SignCommand:
    name = "sign"
    help = "pack a bundle with its regression sentences into a signed .tar.zst for `edge update`"

    def register(self, parser: argparse.ArgumentParser) -> None:
        from distill.data.records import default_data_dir
        from distill.promote import DEFAULT_REGISTRY

        parser.add_argument("bundle", type=Path, help="the bundle folder")
        parser.add_argument("--key", type=Path, required=True, help="the Ed25519 private key (distill keygen)")
        parser.add_argument("--out", type=Path, help="the package (default: BUNDLE.tar.zst beside the folder)")
        parser.add_argument("--product", metavar="NAME",
                            help="the product line it is for: speakers of another line refuse it (default: the line "
                            "its promotion.json names, else none)")
        add_sentence_options(parser, DEFAULT_REGISTRY, default_data_dir())

    def run(self, args: argparse.Namespace) -> int:
        out = args.out or args.bundle.with_name(args.bundle.name + ".tar.zst")
        manifest = sign_bundle(args.bundle, args.key, out, args.registry, args.data, args.sentences, args.product)
        print(_describe(manifest, out))
        return 0


def add_sentence_options(parser: argparse.ArgumentParser, registry: Path, data_dir: Path, with_registry: bool = True) -> None:
    if with_registry:
        parser.add_argument("--registry", type=Path, default=registry, metavar="FILE",
                            help="regression sets whose sentences the package carries (default regression/registry.toml)")
        parser.add_argument("--data", type=Path, default=data_dir, help="shared data folder, for public sets")
    parser.add_argument("--sentences", type=int, default=DEFAULT_SENTENCES_PER_SET, metavar="N",
                        help=f"regression sentences per set in the package (default {DEFAULT_SENTENCES_PER_SET})")


def sign_after_promotion(args: argparse.Namespace) -> tuple[Path, str]:
    """`distill promote --sign KEY [--product NAME]`: the newly deployed bundle as DIR.tar.zst (or --package),
    for the product line it was promoted for; the package and a line saying so."""
    out = args.package or args.deployed.with_name(args.deployed.name + ".tar.zst")
    manifest = sign_bundle(args.deployed, args.sign, out, args.registry, args.data, args.sentences, args.product or "")
    return out, _describe(manifest, out)
