"""The evidence page checked by tools written elsewhere: the Nu HTML Checker, axe-core and poppler's pdftotext.

The checker (npm ``vnu-jar``, run on Java) and axe-core come from the
repository's package.json (``npm ci`` at the repository root); pdftotext from
Debian's ``poppler-utils``. As with Chromium, a missing tool skips the test
outside CI and fails it under CI=true.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cli_runner import REPO_ROOT
from headless_chromium import Page

NODE_MODULES = REPO_ROOT / "node_modules"
VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"
AXE_SCRIPT = NODE_MODULES / "axe-core" / "axe.min.js"
NPM_HINT = "run `npm ci --ignore-scripts` at the repository root"


def _missing(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + "; CI must run these checks")
    pytest.skip(message)


def _tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        _missing(f"`{name}` is not installed ({hint})")
    return str(path)


def _file(path: Path, hint: str) -> Path:
    if not path.is_file():
        _missing(f"{path.relative_to(REPO_ROOT)} is missing ({hint})")
    return path


def html_checker_errors(page: Path) -> list[str]:
    """The Nu HTML Checker's errors for the page, one line each (its warnings and notes are left out)."""
    java = _tool("java", "apt-get install default-jre-headless")
    jar = _file(VNU_JAR, NPM_HINT)
    result = subprocess.run(
        [java, "-jar", str(jar), "--format", "json", "--stdout", "--exit-zero-always", str(page)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [
        f"line {m.get('lastLine')}: {m['message']}"
        for m in json.loads(result.stdout)["messages"]
        if m["type"] in ("error", "non-document-error")
    ]


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is laid out now (its default rules: WCAG A and AA, and best practice)."""
    page.evaluate(_file(AXE_SCRIPT, NPM_HINT).read_text(encoding="utf-8"))
    return list(
        page.evaluate(
            "axe.run(document).then(r => r.violations.map(v => ({"
            "id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))})))",
            await_promise=True,
        )
    )


def pdf_text(pdf: Path, *, layout: bool = False) -> str:
    """The text of a PDF as pdftotext extracts it (with ``layout``, each line as printed, columns kept apart)."""
    pdftotext = _tool("pdftotext", "apt-get install poppler-utils")
    return subprocess.run(
        [pdftotext, *(["-layout"] if layout else []), str(pdf), "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def printed_pieces(layout_text: str, address: str) -> list[list[str]]:
    """Every place ``address`` is printed in ``pdftotext -layout`` text, as the pieces its successive lines hold.

    A piece that goes on in the next line of a table cell starts there in the
    same column (give or take two characters, pdftotext's rounding).
    """
    lines = [[(m.start(), m.group()) for m in re.finditer(r"\S+", line)] for line in layout_text.splitlines()]
    found = []
    for row, tokens in enumerate(lines):
        for column, token in tokens:
            if not address.startswith(token):
                continue
            pieces, rest, below = [token], address[len(token):], row + 1
            while rest and below < len(lines):
                following = [t for c, t in lines[below] if abs(c - column) <= 2 and rest.startswith(t)]
                if not following:
                    break
                pieces.append(following[0])
                rest = rest[len(following[0]):]
                below += 1
            if not rest:
                found.append(pieces)
    return found
