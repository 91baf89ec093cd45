"""The studio's files checked without a browser: one dictionary per language with the same
keys, every key the code uses defined, strings only through textContent (no HTML sinks), no
CDN or other outside URL (air-gapped), modules kept small, and the first-load budget."""
from __future__ import annotations

import os
import re
from typing import Dict, List, Set

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATIC = os.path.join(ROOT, "static")
JS = os.path.join(STATIC, "js")


def read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def js_files() -> List[str]:
    out = []
    for folder, _dirs, files in os.walk(JS):
        out.extend(os.path.join(folder, f) for f in sorted(files) if f.endswith(".js"))
    return out


def dictionary(lang: str) -> Dict[str, str]:
    text = read(os.path.join(JS, "lang", lang + ".js"))
    return dict(re.findall(r"^\s*'([^']+)':\s*'((?:\\.|[^'\\])*)',?\s*$", text, re.M))


def code_files() -> List[str]:
    return [p for p in js_files() if os.sep + "lang" + os.sep not in p]


def test_languages_have_the_same_keys() -> None:
    en, ko = dictionary("en"), dictionary("ko")
    assert len(en) > 200
    assert set(en) == set(ko), (sorted(set(en) - set(ko)), sorted(set(ko) - set(en)))
    for key in en:
        # Placeholders must survive translation.
        assert set(re.findall(r"\{(\w+)\}", en[key])) == set(re.findall(r"\{(\w+)\}", ko[key])), key
        assert ko[key].strip(), key


def used_keys() -> Set[str]:
    namespaces = {k.split(".")[0] for k in dictionary("en")}
    found = set()
    sources = [read(p) for p in code_files()] + [read(os.path.join(STATIC, "index.html"))]
    for text in sources:
        for key in re.findall(r"""['"]([a-z]+\.[A-Za-z0-9_.-]*[A-Za-z0-9_-])['"]""", text):
            if key.split(".")[0] in namespaces and not key.endswith(".js"):
                found.add(key)
    return found


def test_every_key_the_code_uses_exists() -> None:
    en = dictionary("en")
    missing = sorted(k for k in used_keys() if k not in en)
    assert not missing, missing


def test_dynamic_key_families_are_complete() -> None:
    en = dictionary("en")
    errors_js = read(os.path.join(JS, "views", "errors.js"))
    classes = set(re.findall(r"return '(\w+)';", errors_js))
    assert {"proxy", "auth", "safety", "empty", "rate", "size", "unknown"} <= classes
    for cls in classes:
        assert "err.%s.title" % cls in en and "err.%s.hint" % cls in en, cls
    for status in ("checking", "starting", "ready", "auth_required", "offline", "server"):
        assert "oauth." + status in en and "oauth.%s.help" % status in en
    for phase in ("queued", "streaming", "partial", "decoding"):
        assert "phase." + phase in en
    for status in ("empty", "queued", "running", "done", "error", "canceled", "asset-missing"):
        assert "node.status." + status in en
    for rule in ("number", "multiple16", "maxEdge", "ratio", "minPixels", "maxPixels"):
        assert "size.rule." + rule in en
    for group in ("today", "yesterday", "week", "earlier"):
        assert "rail.group." + group in en


def test_strings_reach_the_page_only_as_text() -> None:
    sinks = re.compile(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|eval\(")
    offenders = []
    for path in code_files():
        for number, line in enumerate(read(path).splitlines(), 1):
            if sinks.search(line):
                offenders.append("%s:%d: %s" % (os.path.relpath(path, ROOT), number, line.strip()))
    # The one allowed sink: dom.js icon() writes static SVG templates (no data in them).
    allowed = [o for o in offenders if "static/js/dom.js" in o and "span.innerHTML" in o]
    assert offenders == allowed and len(allowed) == 1, offenders


def test_nothing_is_loaded_from_outside() -> None:
    for folder, _dirs, files in os.walk(STATIC):
        for name in files:
            text = read(os.path.join(folder, name))
            urls = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s'\"]*", text, re.I)
            urls = [u for u in urls if "www.w3.org/2000/svg" not in u]
            assert not urls, (name, urls)
            assert "@import" not in text and "@font-face" not in text, name


def test_modules_are_small_es_modules() -> None:
    for path in code_files():
        lines = read(path).count("\n")
        assert lines <= 320, "%s has %d lines (keep JS modules around 300)" % (path, lines)
        assert "require(" not in read(path), path
    html = read(os.path.join(STATIC, "index.html"))
    assert '<script type="module" src="/js/main.js"></script>' in html


def test_first_load_fits_the_budget() -> None:
    """What the first view fetches — index.html, the stylesheet and every module main.js
    imports statically (the modulepreload set) — stays within 250 KB uncompressed; node mode
    (imported on first use) and what only later actions need are not part of it."""
    import sys
    sys.path.insert(0, ROOT)
    from ima2_lib.static import build_manifest, static_imports

    manifest = build_manifest(STATIC)
    first = static_imports(manifest, "/js/main.js") + ["/index.html", "/css/app.css"]
    assert "/js/views/nodes.js" not in first and "/js/main.js" in first
    # Needed only later: the stream reader (a generation), image files (a reference, a copy,
    # an edit) and the live stream (imported right after the first view).
    assert not {"/js/sse.js", "/js/images.js", "/js/live.js", "/js/library.js"} & set(first), first
    total = sum(os.path.getsize(manifest[url][0]) for url in first)
    assert total <= 250 * 1024, total


@pytest.mark.parametrize("name", ["api.js", "sizes.js", "state.js", "i18n.js"])
def test_core_modules_do_not_build_views(name: str) -> None:
    text = read(os.path.join(JS, name))
    assert "from './views/" not in text and "document.createElement" not in text


def test_one_favourite_code_path() -> None:
    """The gallery, the results and the viewer change a favourite through library.js's
    setFavorite: no other module sends the PATCH or announces `assets:favorite` itself."""
    for path in code_files():
        name = os.path.relpath(path, JS).replace(os.sep, "/")
        text = read(path)
        if name != "library.js":
            assert "emit('assets:favorite'" not in text, name
            assert "patchImage(" not in text and "{ favorite }" not in text, name
    for name in ("views/tags.js", "views/gallerypick.js"):
        assert re.search(r"import \{[^}]*\bsetFavorite\b[^}]*\} from '\.\./library\.js'",
                         read(os.path.join(JS, name))), name
    # the results and the viewer take it on first use (the first view leaves library.js out)
    assert "import('../library.js').then((library) => library.setFavorite(" in read(
        os.path.join(JS, "views/actions.js"))
