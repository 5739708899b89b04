"""Links in card text (an LLM may write them) are plain text unless their host is allow-listed (low)."""

import pytest

from edge.core.events import Card

pytest.importorskip("markdown_it", reason="rendering cards needs the cast extra: pip install -e '.[cast]'")


def _links(tree):
    found = []
    for node in tree:
        if isinstance(node, dict):
            if node["t"] == "a":
                found.append(node.get("href"))
            found.extend(_links(node["c"]))
    return found


def _text(tree):
    return "".join(node if isinstance(node, str) else _text(node["c"]) for node in tree)


BODY = ("Log in at [your bank](https://bank.example.evil/login), mail [us](mailto:a@b.c), "
        "read [the docs](https://docs.example.org/guide) or [the site](http://example.org/).")


def test_card_links_are_text_by_default():
    from edge.cast.render import card_view

    view = card_view(Card(title="Answer", body=BODY), "c1", 0.0)
    assert _links(view["body"]) == []
    assert "your bank" in _text(view["body"]) and "the docs" in _text(view["body"])


def test_links_to_allowed_hosts_stay_clickable():
    from edge.cast.render import card_view

    view = card_view(Card(title="Answer", body=BODY), "c1", 0.0, link_hosts=frozenset({"example.org"}))
    assert _links(view["body"]) == ["https://docs.example.org/guide"]  # https only, allowed host or its subdomain


def test_the_companion_takes_the_allow_list_from_its_settings():
    from edge.cast.card import CardLimits
    from edge.core.settings import CastSettings

    limits = CardLimits.from_settings(CastSettings(link_hosts="example.org, Wikipedia.org"))
    assert limits.link_hosts == frozenset({"example.org", "wikipedia.org"})
