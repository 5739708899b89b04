"""The whole path in a real browser: `edge cast companion` found over mDNS, paired, cards cast and seen.

A real companion process on loopback, a real CardCaster discovering it over real mDNS, the
pairing code read off the page in headless Chromium, then one card of each kind checked in
the page's DOM (title, table cells, list items, image, chart) with a screenshot per kind in
tests/artifacts/. Hostile cards are checked in the same browser: nothing they carry may run.
"""


import pytest
from helpers.cast_helpers import (
    LOOPBACK,
    CompanionProcess,
    LoopThread,
    cast_deps,
    copy_to_docs,
    launch_chromium,
    png_bytes,
    save_screenshot,
    unique,
)

from edge.core.events import Card
from edge.core.settings import CastSettings

cast_deps()
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright: pip install -e '.[test]'")

PWNED = "() => window.__pwned"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from edge.cast.caster import CardCaster

    name = unique("Kitchen TV")
    companion = CompanionProcess(tmp_path_factory.mktemp("screen"), name, "kitchen")
    settings = CastSettings(interface=LOOPBACK, state_dir=str(tmp_path_factory.mktemp("speaker")), room="kitchen", browse_chromecast=False)
    caster = CardCaster(settings, speaker_name="Test speaker").start()
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            screen = caster.wait_for_screen(name, timeout=5.0)
            assert screen is not None, "the companion was not found over mDNS"
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(f"{screen.base_url}/")
            page.wait_for_selector("#status.online")
            code = page.inner_text("#code")
            caster.pair(name, code)
            # A function, not a bare expression: Playwright evaluates a bare expression with eval(), which
            # the page's Content-Security-Policy forbids (it fails whenever the note is not there yet).
            page.wait_for_function("() => document.getElementById('paired-note').textContent.includes('Test speaker')")
            yield caster, page, screen, name, browser
        finally:
            browser.close()
            caster.close()
            companion.stop()


def cast_and_wait(setup, card, kind):
    caster, page, _, name, _ = setup
    outcome = caster.cast(card, hint=name).outcome(timeout=10)
    assert outcome["status"] == "delivered", outcome
    assert outcome["ack"] == "shown" and outcome["screen"] == name
    page.wait_for_function("(title) => document.querySelector('#card h1')?.textContent === title", arg=card.title)
    copy_to_docs(save_screenshot(page, kind))
    return page


def test_pairing_code_on_screen_paired_this_speaker(setup):
    caster, page, screen, _, _ = setup
    assert caster.tokens.token_for(screen.screen_id)
    assert page.inner_text("#code").isdigit()  # a fresh code for the next speaker


def test_markdown_card(setup):
    body = "Serves **two**. Takes *20 minutes*.\n\n1. Boil salted water\n2. Cook the pasta for 9 minutes\n3. Toss with pesto\n\n> Save a cup of the pasta water."
    page = cast_and_wait(setup, Card(title="Pasta with pesto", body=body), "markdown")
    assert page.inner_text("#card .body strong") == "two"
    assert page.locator("#card .body ol li").all_inner_texts() == ["Boil salted water", "Cook the pasta for 9 minutes", "Toss with pesto"]
    assert "Save a cup" in page.inner_text("#card .body blockquote")


def test_table_card(setup):
    table = [["Day", "Weather", "High", "Low"], ["Mon", "Sunny", "21°", "12°"], ["Tue", "Showers", "17°", "10°"], ["Wed", "Cloudy", "18°", "11°"]]
    page = cast_and_wait(setup, Card(title="Weather this week", table=table), "table")
    assert page.locator("#card table th").all_inner_texts() == table[0]
    assert page.locator("#card table td").all_inner_texts() == [cell for row in table[1:] for cell in row]


def test_list_card(setup):
    items = ["Milk", "Eggs", "Basil", "Parmesan", "Pine nuts"]
    page = cast_and_wait(setup, Card(title="Shopping list", items=items), "list")
    assert page.locator("#card ul.items li").all_inner_texts() == items


def test_image_card(setup):
    page = cast_and_wait(setup, Card(title="Front door camera", body="Someone rang at 7:05.", image=png_bytes(192, 128)), "image")
    size = page.eval_on_selector("#card img.picture", "img => [img.complete, img.naturalWidth, img.naturalHeight]")
    assert size == [True, 192, 128]


def test_chart_card(setup):
    chart = {"kind": "bar", "labels": ["Mon", "Tue", "Wed", "Thu", "Fri"], "values": [3, 5, 2, 6, 4], "unit": " km"}
    page = cast_and_wait(setup, Card(title="Runs this week", chart=chart), "chart")
    assert page.locator("#card svg.chart rect").count() == 5
    assert page.locator("#card svg.chart text").all_text_contents()[:2] == ["Mon", "3 km"]


def test_history_lists_earlier_cards_and_shows_one_on_click(setup):
    _, page, _, _, _ = setup
    earlier = page.locator("#history-list button")
    assert earlier.count() >= 4
    page.locator("#history-list button", has_text="Shopping list").click()
    assert page.inner_text("#card h1") == "Shopping list"


def test_phone_layout(setup):
    _, _, screen, _, browser = setup
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(f"{screen.base_url}/")
    phone.wait_for_selector("#card h1")
    copy_to_docs(save_screenshot(phone, "phone"))
    phone.close()


HOSTILE = Card(
    title="<script>window.__pwned = 'title'</script>Hostile card",
    body=(
        "<script>window.__pwned = 'body'</script>\n\n"
        "<img src=x onerror=\"window.__pwned = 'onerror'\">\n\n"
        "[click me](javascript:window.__pwned='link') and <a href=\"javascript:window.__pwned='a'\">this</a>\n\n"
        "<iframe src=\"javascript:window.top.__pwned='iframe'\"></iframe> <svg onload=\"window.__pwned='svg'\">"
    ),
    items=["<b onmouseover=\"window.__pwned='item'\">hover</b>", "javascript:window.__pwned='text'"],
    table=[["<script>window.__pwned='th'</script>"], ["<img src=x onerror=\"window.__pwned='td'\">"]],
    image_url="javascript:window.__pwned='image'",
)


def assert_nothing_ran(page):
    card = page.locator("#card")
    for selector in ("script", "iframe", "svg", "img", "[onerror]", "[onload]", "[onmouseover]", "a[href^='javascript']"):
        assert card.locator(selector).count() == 0, selector
    for link in card.locator("a").all():
        link.click()  # only https links exist; nothing may run
    card.locator("ul.items li").first.hover()
    page.wait_for_timeout(200)
    assert page.evaluate(PWNED) is None


def test_hostile_card_through_the_speaker_is_neutralised(setup):
    page = cast_and_wait(setup, HOSTILE, "hostile")
    assert "<script>" in page.inner_text("#card h1")  # shown as text, never parsed
    assert "javascript:window.__pwned='link'" in page.inner_text("#card .body")
    assert_nothing_ran(page)


def deliver_straight(caster, screen, card):
    """`card` to the companion without the speaker's sanitiser (as a buggy or hostile paired speaker would)."""
    import aiohttp

    from edge.cast.client import ScreenLink

    async def send():
        async with aiohttp.ClientSession() as session:
            link = ScreenLink(session, screen, caster.tokens.key_for(screen.screen_id), caster.tokens.speaker_id)
            try:
                return await link.deliver(card, 10)
            finally:
                await link.close()

    loop = LoopThread()
    try:
        return loop.run(send())
    finally:
        loop.close()


def test_hostile_card_sent_straight_to_the_companion_is_neutralised(setup):
    caster, page, screen, _, _ = setup
    card = Card(title="Straight to the companion <img src=x onerror=\"window.__pwned=1\">", body=HOSTILE.body, items=HOSTILE.items)
    assert deliver_straight(caster, screen, card)["status"] == "shown"
    page.wait_for_function("() => document.querySelector('#card h1').textContent.startsWith('Straight')")
    assert_nothing_ran(page)


def test_content_security_policy_blocks_injected_inline_script(setup):
    _, page, _, _, _ = setup
    with pytest.raises(sync_api.Error):
        page.add_script_tag(content="window.__pwned = 'inline'")
    assert page.evaluate(PWNED) is None


def test_a_500_kb_body_is_refused_and_never_reaches_the_page(setup):
    caster, page, screen, name, _ = setup
    before = page.evaluate("document.body.dataset.cards")
    outcome = caster.cast(Card(title="Too big", body="x" * 500_000), hint=name).outcome(timeout=10)
    assert outcome["status"] == "speech-only" and "cast.max_body_bytes" in outcome["reason"]
    from edge.cast.client import DeliveryRefused

    with pytest.raises(DeliveryRefused, match="cast.max_body_bytes"):
        deliver_straight(caster, screen, Card(title="Too big", body="<script>window.__pwned=1</script>" * 16_000))
    page.wait_for_timeout(200)
    assert page.evaluate("document.body.dataset.cards") == before
    assert page.inner_text("#card h1") != "Too big"
    assert page.evaluate(PWNED) is None
