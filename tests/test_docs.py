"""The documents link only to files in the repository, and to headings those files have."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "SAFETY.md",
    ROOT / "clients" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchors(document: Path) -> set[str]:
    """The anchors GitHub gives the document's headings."""
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub("", document.read_text())):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def test_the_heading_anchors_are_made_as_github_makes_them(tmp_path: Path) -> None:
    sample = tmp_path / "sample.md"
    sample.write_text(
        "# Why no lead is lost\n## The dialer (CONTRACT 6 and 9)\n"
        "## The server's local time\n```sh\n# a comment, not a heading\n```\n"
        "### `--optimize`\n## Logs\n## Logs\n"
    )
    assert anchors(sample) == {
        "why-no-lead-is-lost",
        "the-dialer-contract-6-and-9",
        "the-servers-local-time",
        "--optimize",
        "logs",
        "logs-1",
    }


def test_every_link_names_a_file_of_the_repository_and_a_heading_it_has() -> None:
    broken = []
    for document in DOCUMENTS:
        for target in LINK.findall(FENCE.sub("", document.read_text())):
            if re.match(r"[a-z]+:", target):
                continue  # a web address, not a file of the repository
            path, _, anchor = target.partition("#")
            linked = (document.parent / path).resolve() if path else document
            if not linked.is_relative_to(ROOT) or not linked.exists():
                broken.append(f"{document.relative_to(ROOT)}: {target}")
            elif anchor and anchor not in anchors(linked):
                broken.append(f"{document.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []
