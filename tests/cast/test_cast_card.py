"""Cards without a network: the sanitiser, the markdown tree, choosing a screen, pairing files."""

import base64
import stat

import pytest
from helpers.cast_helpers import png_bytes

from edge.cast.card import CardLimits, CardRejected, CardTooLarge, image_type, sanitize_card
from edge.cast.choose import choose_screens, hint_score
from edge.cast.pairing import PairedSpeakers, PairingCode, PairingError, ScreenTokens
from edge.cast.render import ALLOWED_TAGS, card_view, markdown_tree
from edge.cast.screens import Screen
from edge.core.events import Card, decode_event, encode_event
from edge.core.settings import CastSettings, load_settings

pytest.importorskip("markdown_it", reason="rendering cards needs markdown-it-py: pip install -e .")

LIMITS = CardLimits()


def tags(nodes):
    for node in nodes:
        if isinstance(node, dict):
            yield node["t"]
            yield from tags(node["c"])


def nodes(tree):
    for node in tree:
        if isinstance(node, dict):
            yield node
            yield from nodes(node["c"])


def texts(nodes):
    return "".join(node if isinstance(node, str) else texts(node["c"]) for node in nodes)


def test_card_with_image_bytes_round_trips_through_the_codec():
    card = Card(title="Cat", image=png_bytes(), table=[["a"]], chart={"values": [1.5]})
    assert decode_event(encode_event(card)) == card


def test_a_500_kb_body_is_refused_with_the_setting_named():
    with pytest.raises(CardTooLarge, match=r"512000 bytes, over the limit of 262144 \(cast.max_body_bytes\)"):
        sanitize_card(Card(title="big", body="x" * 512_000), LIMITS)


def test_limits_come_from_the_settings():
    settings = load_settings(environ={"EDGE_CAST__MAX_BODY_BYTES": "100"})
    assert CardLimits.from_settings(settings.cast).max_body_bytes == 100
    with pytest.raises(CardTooLarge):
        sanitize_card(Card(body="y" * 101), CardLimits.from_settings(settings.cast))


def test_control_and_bidi_override_characters_are_removed():
    card = sanitize_card(Card(title="a\x00b\u202ec", items=["x\x1by"], table=[["1", "2"], ["3"]]), LIMITS)
    assert card.title == "abc"
    assert card.items == ["xy"]
    assert card.table == [["1", "2"], ["3", ""]]  # ragged rows are padded to the header


@pytest.mark.parametrize("url", ["javascript:alert(1)", "http://example.com/a.png", "file:///etc/passwd",
                                 "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=", "https://example.com/a.png"])
def test_image_urls_other_than_allowed_https_are_dropped(url):
    card = Card(title="t", image_url=url)
    if url.startswith("data:image/svg"):
        with pytest.raises(CardRejected, match="PNG, JPEG, GIF or WebP"):
            sanitize_card(card, LIMITS)
        return
    assert sanitize_card(card, LIMITS).image_url is None
    allowing = CardLimits(allow_remote_images=True)
    assert sanitize_card(card, allowing).image_url == (url if url.startswith("https://") else None)


def test_a_data_url_image_becomes_bytes():
    png = png_bytes()
    card = sanitize_card(Card(title="t", image_url="data:image/png;base64," + base64.b64encode(png).decode()), LIMITS)
    assert card.image == png and card.image_url is None
    assert image_type(card.image) == "image/png"


def test_images_are_checked_by_their_bytes():
    with pytest.raises(CardRejected, match="PNG, JPEG"):
        sanitize_card(Card(title="t", image=b"<svg onload=alert(1)>"), LIMITS)
    with pytest.raises(CardTooLarge, match="cast.max_image_bytes"):
        sanitize_card(Card(title="t", image=png_bytes()), CardLimits(max_image_bytes=10))


@pytest.mark.parametrize("chart, message", [
    ({"values": [1, float("nan")]}, "finite"),
    ({"values": [1, 2], "labels": ["a"]}, "one label per value"),
    ({"values": [1], "kind": "pie"}, "'bar' or 'line'"),
    ({"values": [1], "script": "x"}, "unknown keys"),
    ({"values": []}, "non-empty"),
])
def test_malformed_charts_are_refused(chart, message):
    with pytest.raises(CardRejected, match=message):
        sanitize_card(Card(title="t", chart=chart), LIMITS)


def test_an_empty_card_is_refused():
    with pytest.raises(CardRejected, match="empty"):
        sanitize_card(Card(), LIMITS)


def test_markdown_tree_keeps_structure_and_only_allowed_tags():
    tree = markdown_tree("# Steps\n\n1. **Boil** water\n2. Add *pasta*\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[docs](https://example.com)",
                         link_hosts=frozenset({"example.com"}))
    assert set(tags(tree)) <= ALLOWED_TAGS
    assert tree[0] == {"t": "h3", "c": ["Steps"]}
    assert tree[1]["t"] == "ol" and texts(tree[1]["c"]) == "Boil waterAdd pasta"
    assert {"t": "a", "c": ["docs"], "href": "https://example.com"} in tree[-1]["c"]


@pytest.mark.parametrize("body", [
    "<script>window.__pwned=1</script>",
    "<img src=x onerror=\"window.__pwned=1\">",
    "[click](javascript:window.__pwned=1)",
    "[click](JaVaScRiPt:window.__pwned=1)",
    "<a href=\"javascript:window.__pwned=1\">click</a>",
    "![x](javascript:window.__pwned=1)",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
])
def test_markdown_tree_never_carries_script_or_unsafe_links(body):
    tree = markdown_tree(body)
    assert set(tags(tree)) <= ALLOWED_TAGS - {"a"}
    assert all(set(node) == {"t", "c"} for node in nodes(tree))


def test_card_view_has_a_data_url_for_image_bytes():
    view = card_view(sanitize_card(Card(title="t", image=png_bytes()), LIMITS), "id1", 0.0)
    assert view["image"].startswith("data:image/png;base64,")
    assert view["id"] == "id1" and view["chart"] is None


def screen(name, room="", key=None, kind="edgecast"):
    return Screen(key=key or name, name=name, room=room, kind=kind, host="127.0.0.1", port=1, screen_id=name)


def test_choosing_by_name_room_last_used_and_own_room():
    kitchen, living, bedroom = screen("Kitchen TV", "kitchen"), screen("Big Screen", "living room"), screen("Bedroom tablet", "bedroom")
    screens = [bedroom, living, kitchen]
    assert choose_screens(screens, "show it on the kitchen tv").first == kitchen
    assert choose_screens(screens, "in the living room").first == living
    assert choose_screens(screens, None, own_room="bedroom").first == bedroom
    assert choose_screens(screens, None, own_room="bedroom", last_used="Big Screen").first == living
    missing = choose_screens(screens, "garage tv", own_room="kitchen")
    assert not missing.matched_hint and missing.first == kitchen
    assert [s.name for s in choose_screens(screens, "kitchen tv").candidates] == ["Kitchen TV", "Bedroom tablet", "Big Screen"]
    assert hint_score(kitchen, "the") == 0


def test_pairing_code_rotates_after_use_and_after_five_wrong_codes():
    now = [0.0]
    code = PairingCode(ttl_seconds=60, clock=lambda: now[0])
    first = code.current()
    assert len(first) == 6 and first.isdigit()
    assert code.check(first[:3] + " " + first[3:])  # spaces as a person reads it
    assert code.current() != first or not code.check(first)
    second = code.current()
    wrong = f"{(int(second) + 1) % 10**6:06d}"
    for _ in range(5):
        assert not code.check(wrong)
    assert not code.check(second) or code.current() != second
    now[0] = 61.0
    assert code.current() != second


def test_tokens_are_stored_hashed_on_the_companion_and_privately(tmp_path):
    companion = PairedSpeakers(str(tmp_path / "screen"))
    token = companion.add("speaker-1", "Kitchen speaker")
    assert companion.speaker_for(token) == "Kitchen speaker"
    assert companion.speaker_for(token + "x") is None
    saved = companion.path.read_text()
    assert token not in saved and "token_sha256" in saved
    assert stat.S_IMODE(companion.path.stat().st_mode) == 0o600
    assert PairedSpeakers(str(tmp_path / "screen")).companion_id == companion.companion_id

    speaker = ScreenTokens(str(tmp_path / "speaker"))
    speaker.save(companion.companion_id, "Kitchen TV", token)
    assert ScreenTokens(str(tmp_path / "speaker")).token_for(companion.companion_id) == token


def test_a_broken_pairing_file_says_how_to_fix_it(tmp_path):
    (tmp_path / "screens.json").write_text("{broken")
    with pytest.raises(PairingError, match="delete it and pair the screens again"):
        ScreenTokens(str(tmp_path))


def test_cast_settings_are_a_section():
    settings = load_settings(environ={}, overrides={"cast.room": "kitchen", "cast.allow_remote_images": "true"})
    assert settings.cast.room == "kitchen" and settings.cast.allow_remote_images is True
    assert CastSettings().max_body_bytes == 262144
