"""Rewrite references to documents outside the repository in the *.py files, strip construction markers,
and point imports at the modules that moved.

The product's specification used to live outside the repository ("SPEC 3.4", "SPEC.md 7", "DESIGN.md",
"../shared/..."); it is now docs/spec.md with the same section numbers, and the README's long sections moved
into docs/. To break the import cycles between packages (tests/test_import_layers.py), what every job shares
moved from pipeline/ and kinds/ to runtime/, the token source to auth.py and the notification endpoints to
webhook.py (`MOVED_MODULES`, `MOVED_NAMES`): code written against the old places is pointed at the new ones.
Run from the repository root:

    .venv/bin/python scripts/dev/derefer.py            # rewrite, print every change
    .venv/bin/python scripts/dev/derefer.py --check    # print what it would change; exit 1 if anything

It prints each change as `path:line: old -> new`, lets ruff sort the imports and format the files it changed
(a longer string can pass the line length), then lists everything it leaves alone because rewriting it is not
mechanical (say those by hand). Running it twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import re
import shutil
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

# Modules that moved, by dotted name (imports, mock.patch strings, comments).
MOVED_MODULES = {
    "sync_core.pipeline.context": "sync_core.runtime.context",
    "sync_core.pipeline.report": "sync_core.runtime.report",
    "sync_core.pipeline.messages": "sync_core.runtime.messages",
    "sync_core.pipeline.queues": "sync_core.runtime.queues",
    "sync_core.pipeline.owner": "sync_core.runtime.owner",
    "sync_core.kinds.base": "sync_core.runtime.kind",
    "sync_core.kinds.keys": "sync_core.runtime.keys",
    "sync_core.exchange.auth": "sync_core.auth",
    "sync_core.notifications.http": "sync_core.webhook",
}
MODULE_REF = re.compile(r"\b(" + "|".join(re.escape(m) for m in MOVED_MODULES) + r")\b")
# The `from PACKAGE import module` forms of the same moves.
MOVED_FROM: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(\s*)from sync_core\.pipeline import owner$"), r"\1from sync_core.runtime import owner"),
    (re.compile(r"^(\s*)from \.auth import "), r"\1from sync_core.auth import "),
    (
        re.compile(r"^(\s*)from sync_core\.notifications import http as (\w+)$"),
        r"\1from sync_core import webhook as \2",
    ),
]
# Functions that moved to another module: (old module, name) -> new module.
MOVED_NAMES = {
    ("sync_core.pipeline.scan", "exchange_cursor_name"): "sync_core.runtime.keys",
    ("sync_core.pipeline.scan", "fno_cursor_name"): "sync_core.runtime.keys",
    ("sync_core.pipeline.handlers", "is_permanent"): "sync_core.runtime.failures",
    ("sync_core.pipeline.valve", "existing_activity_keys"): "sync_core.kinds.activity_feed",
    ("sync_core.app", "storage_credential"): "sync_core.auth",
}
ONE_LINE_IMPORT = re.compile(r"^(?P<indent>\s*)from (?P<module>sync_core[\w.]*) import (?P<names>[\w, ]+)$")

# What is still worth a look after the rewrite.
LEFT = re.compile(
    r"\bSPEC\b|\bDESIGN\b|\.\./shared|/work/shared|\b[Ii]ssues? \d+|\bREADME\b(?!\.md in this folder)"
    r"|from sync_core\.pipeline import .*\bowner\b"
)
# A moved name in a parenthesised import from its old home: not taken apart, listed.
OLD_HOMES = {module for module, _name in MOVED_NAMES}
OPEN_IMPORT = re.compile(r"^\s*from (?P<module>sync_core[\w.]*) import \($")
MOVED_NAME = re.compile(r"\b(" + "|".join(sorted({name for _m, name in MOVED_NAMES})) + r")\b")


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


def move_names(line: str) -> str:
    """A one-line `from M import a, b` naming moved functions is split by where each name lives now."""
    match = ONE_LINE_IMPORT.match(line.rstrip("\n"))
    if match is None or match.group("module") not in OLD_HOMES:
        return line
    module, indent = match.group("module"), match.group("indent")
    names = [name.strip() for name in match.group("names").split(",") if name.strip()]
    homes = {name: MOVED_NAMES.get((module, name), module) for name in names}
    if all(home == module for home in homes.values()):
        return line
    return "".join(
        f"{indent}from {home} import {', '.join(n for n in names if homes[n] == home)}\n"
        for home in dict.fromkeys(homes.values())
    )


def move_modules(line: str) -> str:
    line = MODULE_REF.sub(lambda m: MOVED_MODULES[m.group(1)], line)
    for pattern, repl in MOVED_FROM:
        line = pattern.sub(repl, line)
    return move_names(line)


def rewrite_line(line: str) -> str:
    for pattern, repl in REWRITES:
        line = pattern.sub(repl, line)
    return move_modules(line)


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
        inside: str | None = None  # the module of the parenthesised import being read
        for number, line in enumerate(lines, 1):
            new = rewrite_line(line)
            rel = path.relative_to(root)
            if new != line:
                changed += 1
                print(f"{rel}:{number}: {line.strip()}\n    -> {new.strip()}")
            opened = OPEN_IMPORT.match(new)
            if opened:
                inside = opened.group("module")
            elif inside is not None and new.strip().startswith(")"):
                inside = None
            moved_here = inside in OLD_HOMES and MOVED_NAME.search(new)
            if LEFT.search(new) or moved_here:
                left.append(f"{rel}:{number}: {new.strip()}")
            new_lines.append(new)
        if not args.check and new_lines != lines:
            path.write_text("".join(new_lines), encoding="utf-8")
            written.append(path)
    if written:
        # Split imports want sorting, longer strings may pass the line length: ruff tidies what it owns.
        found = [root / ".venv" / "bin" / "ruff", SELF.parents[2] / ".venv" / "bin" / "ruff"]
        command = next((str(p) for p in found if p.exists()), shutil.which("ruff"))
        files = [str(path) for path in written]
        if command is None:
            print("ruff not found: run `ruff check --fix --select I` and `ruff format` on the changed files")
        else:
            subprocess.run([command, "check", "--fix", "--select", "I", "--quiet", *files], check=False)
            subprocess.run([command, "format", *files], check=False)
    verb = "would change" if args.check else "changed"
    print(f"\n{verb} {changed} line(s)")
    if left:
        print(f"\nleft alone ({len(left)}; not mechanical, say them by hand):")
        print("\n".join(left))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
