"""Product lines: `distill promote --product NAME` gates on the product's own regression sets plus
the shared ones, with real tiny bundles measured by the device runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill.cli import main
from distill.products import load_product, product_intents, product_names, write_skill_rows
from distill.promote import DEFAULT_REGISTRY, RegistryError, load_examples

SHARED = '[[set]]\nname = "shared-oos"\ndataset = "oos.csv"\nmetrics = ["oos_recall"]\n'
PRODUCT = """name = "{name}"
skills = ["{skill}"]
device_profile = "{profile}"

[[set]]
name = "{name}-own"
dataset = "own.csv"
metrics = ["accuracy"]
max_drop = {max_drop}
"""
ALARMS = "text,intent\nset an alarm for seven thirty am,alarm_set\nset an alarm for seven,alarm_set\n"
WEATHER = "text,intent\nWhat's the weather in New York?,weather_query\nweather in new york,weather_query\n"


@pytest.fixture
def line(tmp_path: Path) -> dict[str, Path]:
    """A registry with one shared set and two products (hotel-room: alarms, kitchen: weather), each
    with its deployed tiny bundle; a candidate whose weather words vote for alarm_set."""
    pytest.importorskip("onnx", reason="building the tiny test bundle needs the onnx package")
    from helpers.tiny_bundle import build_tiny_bundle

    root = tmp_path / "regression"
    root.mkdir()
    (root / "registry.toml").write_text(SHARED)
    (root / "oos.csv").write_text("text,intent\nthe,out_of_scope\n")
    for name, skill, profile, rows in (("hotel-room", "alarms", "rpi4", ALARMS), ("kitchen", "weather", "rpi5", WEATHER)):
        (root / name).mkdir()
        (root / name / "product.toml").write_text(PRODUCT.format(name=name, skill=skill, profile=profile, max_drop=0.0))
        (root / name / "own.csv").write_text(rows)
    return {
        "registry": root / "registry.toml",
        "hotel-room": build_tiny_bundle(tmp_path / "hotel-room" / "intent"),
        "kitchen": build_tiny_bundle(tmp_path / "kitchen" / "intent"),
        "candidate": build_tiny_bundle(
            tmp_path / "candidate", votes={w: "alarm_set" for w in ("weather", "in", "new", "york")}
        ),
    }


def promote(line: dict[str, Path], product: str, *extra: str) -> int:
    return main(["promote", str(line["candidate"]), "--deployed", str(line[product]),
                 "--registry", str(line["registry"]), "--product", product, *extra])


def last_record(deployed: Path) -> dict:
    return json.loads(sorted(deployed.with_name(deployed.name + ".promotions").glob("*.json"))[-1].read_text())


def test_a_candidate_that_regresses_one_products_set_is_refused_for_that_product_only(line, capsys) -> None:
    kitchen_model = (line["kitchen"] / "model.onnx").read_bytes()
    assert promote(line, "kitchen") == 1
    err = capsys.readouterr().err
    assert "refused: set 'kitchen-own', accuracy: candidate 0.0000 vs deployed 1.0000 (tolerance 0)" in err
    assert (line["kitchen"] / "model.onnx").read_bytes() == kitchen_model
    record = last_record(line["kitchen"])
    assert record["decision"] == "refused" and record["product"]["name"] == "kitchen"
    assert record["product"]["device_profile"] == "rpi5"
    assert [c["set"] for c in record["checks"]] == ["shared-oos", "kitchen-own"]  # shared sets first
    assert [(c["set"], c["metric"]) for c in record["blocked_by"]] == [("kitchen-own", "accuracy")]

    assert promote(line, "hotel-room") == 0
    assert (line["hotel-room"] / "model.onnx").read_bytes() == (line["candidate"] / "model.onnx").read_bytes()
    record = last_record(line["hotel-room"])
    assert record["decision"] == "promoted" and record["product"]["skills"] == ["alarms"]
    assert [c["set"] for c in record["checks"]] == ["shared-oos", "hotel-room-own"] and not record["blocked_by"]


def test_a_products_max_drop_lets_a_small_loss_through(line) -> None:
    product = line["registry"].parent / "kitchen" / "product.toml"
    product.write_text(product.read_text().replace("max_drop = 0.0", "max_drop = 0.5"))
    (product.parent / "own.csv").write_text(WEATHER + "set an alarm for seven,alarm_set\n")  # 1/3 -> worse by 0.67
    assert promote(line, "kitchen", "--dry-run") == 1
    (product.parent / "own.csv").write_text(WEATHER + "set an alarm,alarm_set\nset alarm,alarm_set\n"
                                            "set an alarm for seven,alarm_set\n")  # 1.0 -> 0.6: a drop of 0.4
    assert promote(line, "kitchen", "--dry-run") == 0
    assert last_record(line["kitchen"])["sets"]["kitchen-own"]["max_drop"] == 0.5


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("alarms", "tea-making"), "unknown skill 'tea-making'"),
        (("rpi4", "toaster"), "unknown device_profile 'toaster'"),
        (('"hotel-room-own"', '"shared-oos"'), "set name 'shared-oos' is also a shared set"),
        (('name = "hotel-room"', 'name = "hotel"'), "must be the folder's name 'hotel-room'"),
        (("max_drop = 0.0", "max_drop = -1"), "max_drop must be a number >= 0"),
        (('skills = ["alarms"]', 'skills = ["alarms"'), "not valid TOML"),
        (('skills = ["alarms"]', 'skills = []'), "skills must be a non-empty list"),
    ],
)
def test_a_broken_product_is_named(line, capsys, edit, message) -> None:
    product = line["registry"].parent / "hotel-room" / "product.toml"
    product.write_text(product.read_text().replace(*edit))
    assert promote(line, "hotel-room") == 2
    err = capsys.readouterr().err
    assert str(product) in err and message in err


def test_an_unknown_product_lists_the_known_ones(line, capsys) -> None:
    assert main(["promote", str(line["candidate"]), "--deployed", str(line["kitchen"]),
                 "--registry", str(line["registry"]), "--product", "garage"]) == 2
    assert "no product 'garage' here (products: hotel-room, kitchen)" in capsys.readouterr().err


def test_the_shipped_products_differ_and_their_skill_sets_are_current(tmp_path) -> None:
    from distill.products import _skill_examples

    assert product_names(DEFAULT_REGISTRY) == ["hotel-room", "kitchen"]
    hotel, kitchen = (load_product(name) for name in ("hotel-room", "kitchen"))
    assert hotel.device_profile != kitchen.device_profile
    assert "hotel_book" in product_intents(hotel) and "hotel_book" not in product_intents(kitchen)
    assert "unit_convert" in product_intents(kitchen) and "unit_convert" not in product_intents(hotel)
    for product in (hotel, kitchen):
        fresh = tmp_path / f"{product.name}.csv"
        write_skill_rows(fresh, _skill_examples(product.skills, 5))
        assert (product.path.parent / "skills.csv").read_text() == fresh.read_text(), f"regenerate {product.name}"
        skills_set = product.sets[0]
        assert {e.intent for e in load_examples(skills_set, Path("unused"))} == product_intents(product)


def test_registry_error_is_a_data_error() -> None:
    with pytest.raises(RegistryError, match="no product 'nowhere'"):
        load_product("nowhere")
