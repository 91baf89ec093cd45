"""Every document the code and tests cite is in the repository, and every cited section exists.

Comments cite ``docs/<FILE>.md §<N>`` (or ``decision <N>`` of docs/API.md); a citation of a
file or section that a clone does not have fails here, so the citations cannot dangle again.
"""
from __future__ import annotations

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ("ima2.py", "ima2_lib", "tests", "static")
CITATION = re.compile(r"docs/([A-Z0-9_]+)\.md((?:,? ?§ ?[0-9]+[0-9a-z.]*(?:[–-][0-9.]+)?)*)")
SECTION = re.compile(r"§ ?([0-9]+[a-z]?(?:\.[0-9]+)*)")


def _files():
    for top in SOURCES:
        path = os.path.join(ROOT, top)
        if os.path.isfile(path):
            yield path
            continue
        for folder, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if d not in ("node_modules", "__pycache__", "npm")]
            for name in names:
                if name.endswith((".py", ".js", ".html", ".css")):
                    yield os.path.join(folder, name)


def _citations():
    for path in _files():
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        for match in CITATION.finditer(text):
            sections = SECTION.findall(match.group(2) or "")
            yield os.path.relpath(path, ROOT), match.group(1), sections


def _headings(doc):
    with open(os.path.join(ROOT, "docs", doc + ".md"), encoding="utf-8") as handle:
        return {m.group(1).rstrip(".") for m in
                re.finditer(r"^#+ ([0-9]+[a-z]?(?:\.[0-9]+)*)\.? ", handle.read(), re.M)}


def test_no_citation_of_documents_outside_the_repository():
    outside = re.compile(r"\bCONTRACT\b(?!\.md)|UPSTREAM(?:-2)? ?§|UPSTREAM-2\.md")
    found = []
    for path in _files():
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if outside.search(line):
                    found.append("%s:%d" % (os.path.relpath(path, ROOT), number))
    assert found == []


def test_every_cited_document_and_section_exists():
    cited = list(_citations())
    assert len(cited) > 50  # the code does cite its documents
    dangling = []
    for where, doc, sections in cited:
        if not os.path.isfile(os.path.join(ROOT, "docs", doc + ".md")):
            dangling.append("%s: docs/%s.md" % (where, doc))
            continue
        headings = _headings(doc)
        dangling.extend("%s: docs/%s.md §%s" % (where, doc, s) for s in sections
                        if s.rstrip(".") not in headings)
    assert dangling == []


@pytest.mark.parametrize("doc", ["API", "UPSTREAM", "ARCHITECTURE"])
def test_the_three_documents_exist(doc):
    assert os.path.isfile(os.path.join(ROOT, "docs", doc + ".md"))
