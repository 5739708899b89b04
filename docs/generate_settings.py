"""Write docs/settings.md from edge/core/settings.py: every section, field, default and comment.

    python docs/generate_settings.py           # rewrite docs/settings.md
    python docs/generate_settings.py --check   # exit 1 when docs/settings.md is stale

The comments beside each field (units, choices) are the documentation; this only lays them out.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "edge" / "core" / "settings.py"
TARGET = ROOT / "docs" / "settings.md"
HEADER = """# Settings

Generated from `edge/core/settings.py` by `python docs/generate_settings.py`; do not edit by hand.

Precedence, lowest first: these defaults, a settings file (`--config FILE`, else `$EDGE_CONFIG`,
else `~/.config/edge/edge.toml`; a `./edge.toml` is read only when named),
`EDGE_<SECTION>__<FIELD>` environment variables (`EDGE_ASR__BEAM_SIZE=2`), then
`--set section.field=value` on the command line. An unknown name or a value of the wrong type is
refused with the file (or variable) and the key.
"""


def _comment(lines: list[str], node: ast.AST) -> str:
    """The `# ...` comment on the field's last line, or on the lines just above it."""
    for text in (lines[node.end_lineno - 1], lines[node.lineno - 1]):
        if "#" in text.split("=", 1)[-1]:
            return text.rsplit("#", 1)[1].strip()
    above = []
    index = node.lineno - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        above.insert(0, lines[index].strip().lstrip("#").strip())
        index -= 1
    return " ".join(above)


def render() -> str:
    source = SOURCE.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    sections = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Settings":
            sections = {item.target.id: ast.unparse(item.annotation) for item in node.body if isinstance(item, ast.AnnAssign)}
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    out = [HEADER]
    for section, class_name in sections.items():
        node = classes[class_name]
        doc = ast.get_docstring(node) or ""
        out.append(f"## [{section}]\n")
        if doc:
            out.append(doc.strip() + "\n")
        out.append("| setting | default | what it does |\n|---|---|---|")
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and item.value is not None:
                default = ast.unparse(item.value).replace("|", "\\|")
                comment = _comment(lines, item).replace("|", "\\|")
                out.append(f"| `{section}.{item.target.id}` | `{default}` | {comment} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/settings.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.is_file() else ""
        if current != text:
            print("docs/settings.md is stale: run python docs/generate_settings.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
