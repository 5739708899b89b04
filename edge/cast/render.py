"""A sanitised card as the page's view model: markdown parsed into a tree of allowed elements.

The page never parses HTML: it builds each node with `document.createElement(tag)` for a tag
on the allow-list below and puts every string in with `textContent`. Raw HTML in the markdown
stays literal text (markdown-it with `html` off), links become plain text (their words stay)
unless they are https links to a host in `cast.link_hosts` or one of its subdomains (card text
comes from skills and LLMs: a link on a TV is an invitation to phish), markdown images become
their alt text (the card has its own image field), and nothing in a tree can carry an attribute
except an allowed link's `href`.

A node is a string (text) or `{"t": tag, "c": [children]}`, with `"href"` on links.
"""

from __future__ import annotations

import base64
import functools
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from edge.cast.card import image_type
from edge.core.events import Card

BLOCK_TAGS = {
    "paragraph": "p", "bullet_list": "ul", "ordered_list": "ol", "list_item": "li", "blockquote": "blockquote",
    "table": "table", "thead": "thead", "tbody": "tbody", "tr": "tr", "th": "th", "td": "td",
    "strong": "strong", "em": "em", "s": "s", "link": "a",
}
ALLOWED_TAGS = frozenset(BLOCK_TAGS.values()) | {"h3", "h4", "h5", "pre", "code", "hr", "br"}
SAFE_LINK_PREFIXES = ("https://",)
MAX_DEPTH = 24  # deeper nesting is flattened to text
_PARSING = threading.Lock()



@functools.lru_cache(maxsize=1)
def _parser():
    """One markdown parser per process, built on first use (no work at import time)."""
    try:
        from markdown_it import MarkdownIt
    except ImportError as error:
        raise ImportError("rendering cards needs markdown-it-py (a runtime dependency): pip install -e .") from error
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    return parser.enable(["table", "strikethrough"])


def markdown_tree(text: str, link_hosts: frozenset[str] = frozenset()) -> list[Any]:
    """The markdown body as a list of nodes (see the module docstring); links stay links only to `link_hosts`."""
    if not text.strip():
        return []
    root: dict[str, Any] = {"t": "root", "c": []}
    with _PARSING:  # one parser per process, used from the companion's render threads one at a time
        tokens = _parser().parse(text)
    _append_tokens(root, tokens, link_hosts)
    return root["c"]


def link_allowed(href: str, link_hosts: frozenset[str]) -> bool:
    """An https link to an allowed host (or a subdomain of one)."""
    if not href.lower().startswith(SAFE_LINK_PREFIXES) or not link_hosts:
        return False
    try:
        host = (urlsplit(href).hostname or "").lower()
    except ValueError:
        return False
    return any(host == allowed or host.endswith("." + allowed) for allowed in link_hosts)


def _heading_tag(tag: str) -> str:
    level = int(tag[1]) if len(tag) == 2 and tag[1].isdigit() else 6
    return f"h{min(max(level + 2, 3), 5)}"  # h1 → h3: the card title is the page's big heading


def _append_tokens(root: dict[str, Any], tokens: list[Any], link_hosts: frozenset[str]) -> None:
    stack = [root]
    for token in tokens:
        parent = stack[-1]
        if token.nesting == 1:
            node = _open_node(token, link_hosts)
            if len(stack) > MAX_DEPTH:
                node = {"t": "span-flat", "c": []}
            parent["c"].append(node)
            stack.append(node)
        elif token.nesting == -1:
            if len(stack) > 1:
                stack.pop()
        elif token.type == "inline":
            _append_tokens(parent, token.children or [], link_hosts)
        else:
            _append_leaf(parent, token)
    _flatten_unknown(root)


def _open_node(token: Any, link_hosts: frozenset[str]) -> dict[str, Any]:
    base = token.type[: -len("_open")] if token.type.endswith("_open") else token.type
    if base == "heading":
        return {"t": _heading_tag(token.tag), "c": []}
    tag = "span-flat" if token.hidden else BLOCK_TAGS.get(base, "span-flat")  # hidden: a tight list's <p>
    node: dict[str, Any] = {"t": tag, "c": []}
    if tag == "a":
        href = str(token.attrGet("href") or "")
        if link_allowed(href, link_hosts):
            node["href"] = href
        else:
            node["t"] = "span-flat"  # the link text stays, the link goes
    return node


def _append_leaf(parent: dict[str, Any], token: Any) -> None:
    kind = token.type
    if kind in ("text", "html_inline", "html_block"):
        _add_text(parent, token.content)
    elif kind == "code_inline":
        parent["c"].append({"t": "code", "c": [token.content]})
    elif kind in ("fence", "code_block"):
        parent["c"].append({"t": "pre", "c": [{"t": "code", "c": [token.content]}]})
    elif kind == "softbreak":
        _add_text(parent, " ")
    elif kind == "hardbreak":
        parent["c"].append({"t": "br", "c": []})
    elif kind == "hr":
        parent["c"].append({"t": "hr", "c": []})
    elif kind == "image":
        _add_text(parent, token.content or "")


def _add_text(parent: dict[str, Any], text: str) -> None:
    children = parent["c"]
    if children and isinstance(children[-1], str):
        children[-1] += text
    elif text:
        children.append(text)


def _flatten_unknown(node: dict[str, Any]) -> None:
    """Replace every non-allowed node by its children, so only ALLOWED_TAGS remain."""
    flat: list[Any] = []
    for child in node["c"]:
        if isinstance(child, str):
            _add_text({"c": flat}, child)
            continue
        _flatten_unknown(child)
        if child["t"] in ALLOWED_TAGS:
            flat.append(child)
        else:
            for grandchild in child["c"]:
                if isinstance(grandchild, str):
                    _add_text({"c": flat}, grandchild)
                else:
                    flat.append(grandchild)
    node["c"] = flat


def card_view(card: Card, card_id: str, received: float | None = None,
              link_hosts: frozenset[str] = frozenset()) -> dict[str, Any]:
    """What the page gets for one sanitised card."""
    image = None
    if card.image:
        image = f"data:{image_type(card.image)};base64,{base64.b64encode(card.image).decode('ascii')}"
    elif card.image_url:
        image = card.image_url
    return {
        "id": card_id,
        "received": received if received is not None else time.time(),
        "title": card.title,
        "body": markdown_tree(card.body, link_hosts),
        "table": card.table,
        "items": card.items,
        "image": image,
        "chart": card.chart or None,
    }
