"""Product lines: a named set of skills, a device profile and the product's own regression sets.

A product lives in `regression/<name>/product.toml`, beside the shared registry:

    name = "hotel-room"                   # the folder's name
    description = "Hotel-room speaker"
    skills = ["hotels", "alarms"]         # skill names (edge/skills/builtin/specs/*.yaml `skill:`)
    device_profile = "rpi4"               # devices/profiles/<name>.toml

    [[set]]                               # the same keys as the shared registry's sets (distill.promote)
    name = "hotel-room-skills"
    dataset = "skills.csv"                # relative to the product folder
    metrics = ["accuracy"]                # the metrics that may not drop ...
    max_drop = 0.0                        # ... and by how much (in the metric's unit)

`distill promote CANDIDATE --deployed DIR --product hotel-room` gates on the product's sets plus
the shared ones (`regression/registry.toml`). A product's skills set is regenerated with

    python -c "from distill.products import write_product_skill_set as w; w('hotel-room')"
"""

from __future__ import annotations

import csv
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from distill.promote import DEFAULT_REGISTRY, RegistryError, RegressionSet, load_registry

PRODUCT_FILE = "product.toml"
PRODUCT_KEYS = ("name", "description", "skills", "device_profile", "set")


@dataclass(frozen=True)
class Product:
    name: str
    description: str
    skills: tuple[str, ...]
    device_profile: str
    sets: tuple[RegressionSet, ...]
    path: Path  # the product.toml


def product_names(registry: Path = DEFAULT_REGISTRY) -> list[str]:
    """The products beside a registry (folders with a product.toml), sorted."""
    return sorted(p.parent.name for p in registry.parent.glob(f"*/{PRODUCT_FILE}"))


def load_product(name: str, registry: Path = DEFAULT_REGISTRY) -> Product:
    """The product `name` (regression/<name>/product.toml); RegistryError names the file and problem."""
    path = registry.parent / name / PRODUCT_FILE
    if not path.is_file():
        known = ", ".join(product_names(registry)) or "none"
        raise RegistryError(f"{path}: no product {name!r} here (products: {known})")
    sets = load_registry(path)  # reports bad TOML with its line, and bad sets
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = sorted(set(data) - set(PRODUCT_KEYS))
    if unknown:
        raise RegistryError(f"{path}: unknown key {unknown[0]!r}; expected {', '.join(PRODUCT_KEYS)}")
    if data.get("name") != name:
        raise RegistryError(f"{path}: name = {data.get('name')!r} must be the folder's name {name!r}")
    skills = data.get("skills")
    if not isinstance(skills, list) or not skills or not all(isinstance(s, str) for s in skills):
        raise RegistryError(f"{path}: skills must be a non-empty list of skill names")
    profile = data.get("device_profile")
    if not isinstance(profile, str) or not profile:
        raise RegistryError(f"{path}: device_profile must name a profile in devices/profiles")
    return Product(name, str(data.get("description", "")), tuple(skills), profile, tuple(sets), path)


def check_product(product: Product) -> None:
    """The skills are installed skills and the device profile exists; RegistryError says which is not."""
    from devices.profile import load_profiles
    from edge.skills.loader import installed_specs

    skills = {spec.skill for spec in installed_specs(entry_points=False)}
    missing = [s for s in product.skills if s not in skills]
    if missing:
        raise RegistryError(f"{product.path}: unknown skill {missing[0]!r}; skills: {', '.join(sorted(skills))}")
    profiles = load_profiles()
    if product.device_profile not in profiles:
        raise RegistryError(
            f"{product.path}: unknown device_profile {product.device_profile!r}; profiles: {', '.join(sorted(profiles))}"
        )


def gate_sets(shared: list[RegressionSet], product: Product) -> list[RegressionSet]:
    """The shared sets, then the product's; a set name used by both is an error."""
    names = {s.name for s in shared}
    clash = [s.name for s in product.sets if s.name in names]
    if clash:
        raise RegistryError(f"{product.path}: set name {clash[0]!r} is also a shared set; give it the product's prefix")
    return [*shared, *product.sets]


def product_intents(product: Product, per_sentence: int = 1) -> set[str]:
    """The intents the product's skills declare."""
    return {e.intent for e in _skill_examples(product.skills, per_sentence)}


def _skill_examples(skills: tuple[str, ...], per_sentence: int) -> list:
    from edge.skills.examples import expand_spec
    from edge.skills.loader import installed_specs

    return [e for spec in installed_specs(entry_points=False) if spec.skill in skills for e in expand_spec(spec, per_sentence)]


def write_product_skill_set(name: str, registry: Path = DEFAULT_REGISTRY, per_sentence: int = 5) -> int:
    """Write regression/<name>/skills.csv from the product's skills' sentences; returns the row count."""
    product = load_product(name, registry)
    examples = _skill_examples(product.skills, per_sentence)
    return write_skill_rows(product.path.parent / "skills.csv", examples)


def write_skill_rows(path: Path, examples: list) -> int:
    """Skill examples (edge.skills.examples.SkillExample) as a sorted `text,intent,slots` CSV; the row count."""
    rows = sorted(
        (e.text, e.intent, json.dumps({s.slot: s.value for s in e.slots}, sort_keys=True)) for e in examples
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("text", "intent", "slots"))
        writer.writerows(rows)
    return len(rows)
