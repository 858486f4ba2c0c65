"""Rewrite references to documents outside the repository in the *.py files, and strip construction markers.

The product's specification used to live outside the repository ("SPEC 3.4", "SPEC.md 7", "DESIGN.md",
"../shared/..."); it is now docs/spec.md with the same section numbers, and the README's long sections moved
into docs/. Run from the repository root:

    .venv/bin/python scripts/dev/derefer.py            # rewrite, print every change
    .venv/bin/python scripts/dev/derefer.py --check    # print what it would change; exit 1 if anything

It prints each change as `path:line: old -> new`, runs `ruff format` on the files it changed (a longer string
can pass the line length), then lists every reference it leaves alone because rewriting it is not mechanical
(say those by hand). Running it twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

SKIP_DIRS = {".git", ".venv", ".tools", ".sync-state", "node_modules", "__pycache__"}
SELF = Path(__file__).resolve()

# "SPEC 3.4", "SPEC.md 3, 3.1, 4", "SPEC section 7", "SPEC §4.2", "SPEC.md, 3.3"
_NUMBERS = r"\d+(?:\.\d+)*(?:(?:,\s*|\s+and\s+)\d+(?:\.\d+)*(?![\w.]))*"
SPEC_REF = re.compile(rf"\bSPEC(?:\.md)?,?\s+(?:sections?\s+|§\s*)?(?P<nums>{_NUMBERS})")
SPEC_BARE = re.compile(r"(?:\.\./shared/|/work/shared/)?\bSPEC\.md\b")
DESIGN_REF = re.compile(r"(?:\.\./shared/|/work/shared/)?\bDESIGN(?:\.md)?\b")
SHARED_REFERENCE = re.compile(r"(?:\.\./shared/|/work/shared/)reference/")
BARE_REFERENCE = re.compile(r"(?<![\w/.-])reference/(?=graph-examples|fno-entities|graph-v1)")

# Construction markers: "(issue 13)", "(issues 20 and 21)", "(issue 15, point 4)", "(issue 13, case 9)";
# ", issue 6" inside a parenthesis; a docstring opening "Issue 13, case 6: ".
ISSUE_PAREN = re.compile(r" ?\((?:issues? \d+(?:(?:,| and) \d+)*)(?:, (?:points?|cases?) \d+(?:, \d+)*)?\)")
ISSUE_IN_PAREN = re.compile(r", issues? \d+(?=\))")
ISSUE_DOC_OPENING = re.compile(r'(?P<q>"""|# )Issue \d+(?:, case \d+)?: (?P<c>\w)')

# README sections that moved into docs/, by the words that follow "README" in a reference.
README_SECTIONS = {
    "Register the identity": "docs/admin-guide.md",
    "Prerequisites": "docs/admin-guide.md",
    "Dynamics 365 F&O": "docs/admin-guide.md",
    "Microsoft Graph (application": "docs/admin-guide.md",
    "Configuration": "docs/admin-guide.md",
    "Deploy": "docs/admin-guide.md",
    "Scope the mailboxes": "docs/admin-guide.md",
    "Troubleshoot by message": "docs/admin-guide.md",
    "Check the installation": "docs/admin-guide.md",
    "Operate": "docs/admin-guide.md",
    "Command line": "docs/admin-guide.md",
    "Safety valve": "docs/sync-rules.md",
    "How sync decides": "docs/sync-rules.md",
    "How it works": "docs/architecture.md",
    "Nothing lost": "docs/architecture.md",
    "Run the tests": "docs/development.md",
}
README_REF = re.compile(
    r"\bREADME(?P<sep>[ ,:]*\(?[ ]*['\"]?)(?P<section>"
    + "|".join(re.escape(s) for s in README_SECTIONS)
    + r")"
)

# What is still worth a look after the rewrite.
LEFT = re.compile(
    r"\bSPEC\b|\bDESIGN\b|\.\./shared|/work/shared|\b[Ii]ssues? \d+|\bREADME\b(?!\.md in this folder)"
)


def _spec(m: re.Match[str]) -> str:
    nums = re.split(r",\s*|\s+and\s+", m.group("nums"))
    return "docs/spec.md " + ", ".join(f"§{n}" for n in nums)


def _readme(m: re.Match[str]) -> str:
    return README_SECTIONS[m.group("section")] + m.group("sep") + m.group("section")


def _doc_opening(m: re.Match[str]) -> str:
    return m.group("q") + m.group("c").upper()


REWRITES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (SHARED_REFERENCE, "simulators/reference/"),
    (BARE_REFERENCE, "simulators/reference/"),
    (SPEC_REF, _spec),
    (SPEC_BARE, "docs/spec.md"),
    (DESIGN_REF, "docs/architecture.md"),
    (ISSUE_IN_PAREN, ""),
    (ISSUE_PAREN, ""),
    (ISSUE_DOC_OPENING, _doc_opening),
    (README_REF, _readme),
]


def rewrite_line(line: str) -> str:
    for pattern, repl in REWRITES:
        line = pattern.sub(repl, line)
    return line


def python_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if SKIP_DIRS.intersection(path.relative_to(root).parts) or path.resolve() == SELF:
            continue
        found.append(path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if anything would change"
    )
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    changed = 0
    written: list[Path] = []
    left: list[str] = []
    for path in python_files(root):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        new_lines = []
        for number, line in enumerate(lines, 1):
            new = rewrite_line(line)
            rel = path.relative_to(root)
            if new != line:
                changed += 1
                print(f"{rel}:{number}: {line.strip()}\n    -> {new.strip()}")
            if LEFT.search(new):
                left.append(f"{rel}:{number}: {new.strip()}")
            new_lines.append(new)
        if not args.check and new_lines != lines:
            path.write_text("".join(new_lines), encoding="utf-8")
            written.append(path)
    if written:
        # Longer strings can pass the line length: let the formatter wrap the code it owns.
        ruff = root / ".venv" / "bin" / "ruff"
        subprocess.run([str(ruff) if ruff.exists() else "ruff", "format", *map(str, written)], check=False)
    verb = "would change" if args.check else "changed"
    print(f"\n{verb} {changed} line(s)")
    if left:
        print(f"\nleft alone ({len(left)}; not mechanical, say them by hand):")
        print("\n".join(left))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
