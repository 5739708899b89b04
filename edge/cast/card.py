"""The card a speaker casts, checked: limits, clean text, images by bytes, charts as numbers.

All card text is untrusted (a skill or an LLM wrote it). `sanitize_card` runs on the speaker
before sending and again on the companion before rendering; it never trusts the other side.
It refuses what is too big (`CardTooLarge`) or malformed (`CardRejected`), and neutralises the
rest: control and bidirectional-override characters go, images must be PNG/JPEG/GIF/WebP bytes
(a `data:` URL is decoded into bytes; an https URL is kept only when remote images are
allowed; any other URL is dropped), chart values must be finite numbers. Markdown stays text
here; `edge.cast.render` turns it into a tree the page builds with `textContent`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

from edge.core.errors import BadInputError
from edge.core.events import Card
from edge.core.settings import CastSettings

logger = logging.getLogger(__name__)

IMAGE_TYPES = {  # magic bytes -> MIME type; SVG is not here on purpose (it can carry script)
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
_UNSAFE_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_DATA_URL = re.compile(r"data:(image/[a-z+.-]+);base64,([A-Za-z0-9+/=\s]*)\Z", re.IGNORECASE)


class CardRejected(BadInputError, ValueError):
    """A card cannot be shown as it is; the message says what to change."""


class CardTooLarge(CardRejected):
    """A card (or one of its parts) is over a size limit; the message names the setting."""


@dataclass(frozen=True)
class CardLimits:
    max_body_bytes: int = 262144  # bytes of UTF-8 markdown
    max_image_bytes: int = 1048576  # bytes
    allow_remote_images: bool = False
    max_title_chars: int = 200
    max_text_chars: int = 500  # one list item or table cell
    max_items: int = 200
    max_table_rows: int = 200
    max_table_columns: int = 16
    max_chart_points: int = 200
    link_hosts: frozenset[str] = frozenset()  # links in card text to these hosts (and subdomains) stay clickable

    @classmethod
    def from_settings(cls, settings: CastSettings) -> CardLimits:
        hosts = frozenset(host.strip().lower() for host in settings.link_hosts.split(",") if host.strip())
        return cls(settings.max_body_bytes, settings.max_image_bytes, settings.allow_remote_images, link_hosts=hosts)

    @property
    def max_message_bytes(self) -> int:
        """The largest JSON message that can hold an acceptable card (base64 image + slack)."""
        return self.max_body_bytes * 6 + self.max_image_bytes * 4 // 3 + 512 * 1024


def image_type(data: bytes) -> str | None:
    """The MIME type of PNG, JPEG, GIF or WebP bytes; None for anything else."""
    for magic, mime in IMAGE_TYPES.items():
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def clean_text(text: Any, max_chars: int | None = None, what: str = "text") -> str:
    """Text with control and bidi-override characters removed, cut to `max_chars`."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise CardRejected(f"{what} must be text, not {type(text).__name__}")
    cleaned = _UNSAFE_CHARS.sub("", str(text))
    if max_chars is not None and len(cleaned) > max_chars:
        cleaned = cleaned[: max_chars - 1] + "…"
    return cleaned


def sanitize_card(card: Card, limits: CardLimits) -> Card:
    """A copy of `card` that is safe to send and to show; raise CardRejected when it cannot be."""
    if not isinstance(card, Card):
        raise CardRejected(f"expected a Card event, got {type(card).__name__}")
    body_bytes = len(card.body.encode("utf-8", "replace")) if isinstance(card.body, str) else 0
    if body_bytes > limits.max_body_bytes:
        raise CardTooLarge(
            f"card body is {body_bytes} bytes, over the limit of {limits.max_body_bytes} "
            "(cast.max_body_bytes): send a shorter summary"
        )
    image, image_url = _checked_image(card.image, card.image_url, limits)
    title = clean_text(card.title, limits.max_title_chars, "title")
    body = clean_text(card.body, None, "body")
    if not (title or body or card.table or card.items or card.chart or image or image_url):
        raise CardRejected("the card is empty: give it at least a title, a body, a table, a list, a chart or an image")
    return dataclasses.replace(
        card, title=title, body=body, image=image, image_url=image_url,
        table=_checked_table(card.table, limits), items=_checked_items(card.items, limits),
        chart=_checked_chart(card.chart, limits),
    )


def _checked_image(image: bytes, url: str | None, limits: CardLimits) -> tuple[bytes, str | None]:
    if url and not image:
        match = _DATA_URL.match(url.strip())
        if match:
            try:
                image = base64.b64decode(re.sub(r"\s", "", match.group(2)), validate=True)
            except binascii.Error as error:
                raise CardRejected("image_url is a data: URL whose base64 is broken") from error
            url = None
    if image:
        if len(image) > limits.max_image_bytes:
            raise CardTooLarge(
                f"card image is {len(image)} bytes, over the limit of {limits.max_image_bytes} "
                "(cast.max_image_bytes): scale it down"
            )
        if image_type(image) is None:
            raise CardRejected("card image must be PNG, JPEG, GIF or WebP bytes (SVG and others are not shown)")
        return image, None
    if url is None or not url.strip():
        return b"", None
    if limits.allow_remote_images and url.lower().startswith("https://") and len(url) <= 2048:
        return b"", clean_text(url)
    logger.warning("dropped card image URL %.60r: only image bytes or, when allowed, https URLs are shown", url)
    return b"", None


def _checked_items(items: Any, limits: CardLimits) -> list[str]:
    if not isinstance(items, list):
        raise CardRejected("items must be a list of strings")
    if len(items) > limits.max_items:
        raise CardTooLarge(f"the list has {len(items)} items; at most {limits.max_items} are shown")
    return [clean_text(item, limits.max_text_chars, "a list item") for item in items]


def _checked_table(table: Any, limits: CardLimits) -> list[list[str]]:
    if not isinstance(table, list) or not all(isinstance(row, list) for row in table):
        raise CardRejected("table must be a list of rows, each a list of cells (the first row is the header)")
    if len(table) > limits.max_table_rows:
        raise CardTooLarge(f"the table has {len(table)} rows; at most {limits.max_table_rows} are shown")
    width = max((len(row) for row in table), default=0)
    if width > limits.max_table_columns:
        raise CardTooLarge(f"the table has {width} columns; at most {limits.max_table_columns} are shown")
    return [
        [clean_text(cell, limits.max_text_chars, "a table cell") for cell in row] + [""] * (width - len(row))
        for row in table
    ]


def _checked_chart(chart: Any, limits: CardLimits) -> dict[str, Any]:
    if not isinstance(chart, dict):
        raise CardRejected("chart must be an object: {\"kind\": \"bar\", \"labels\": [...], \"values\": [...]}")
    if not chart:
        return {}
    unknown = set(chart) - {"kind", "labels", "values", "unit"}
    if unknown:
        raise CardRejected(f"chart has unknown keys {sorted(unknown)}; it takes kind, labels, values and unit")
    values = chart.get("values")
    if not isinstance(values, list) or not values:
        raise CardRejected("chart.values must be a non-empty list of numbers")
    if len(values) > limits.max_chart_points:
        raise CardTooLarge(f"the chart has {len(values)} points; at most {limits.max_chart_points} are drawn")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise CardRejected("chart.values must all be finite numbers")
    labels = chart.get("labels", [str(index + 1) for index in range(len(values))])
    if not isinstance(labels, list) or len(labels) != len(values):
        raise CardRejected("chart.labels must be a list with one label per value")
    kind = chart.get("kind", "bar")
    if kind not in ("bar", "line"):
        raise CardRejected(f"chart.kind {kind!r} is not drawn; use 'bar' or 'line'")
    return {
        "kind": kind,
        "labels": [clean_text(label, 40, "a chart label") for label in labels],
        "values": [float(value) for value in values],
        "unit": clean_text(chart.get("unit", ""), 20, "chart.unit"),
    }
