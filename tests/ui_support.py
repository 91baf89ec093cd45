"""Browser-test support for the studio (a pytest plugin loaded by conftest.py).

Owns: one headless Chromium per test session (Debian's ``/usr/bin/chromium`` driven by the
PyPI ``playwright`` package — never a browser download), a fresh browser context per test,
console-error collection that fails the test on any error the test did not expect, a
``Studio`` helper (a live ima2 wired to the fake upstream, optional pre-seeded gallery,
pages on it), and short names for the fake upstream's scripted answers the studio tests use
(SSE with partial images and a gate before the final image, a text-only stream, HTTP errors).
Must not: import playwright at module import time (the no-browser test pass never needs it).
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import struct
import time
import zlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from fake_upstream import FakeUpstream, http_error, success, text_only
from helpers import LiveServer, wait_until

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--no-first-run"]
DESKTOP = {"width": 1440, "height": 900}  # the desktop size
PHONE = {"width": 390, "height": 844}  # and its phone size
# Every wait of the browser tests (states and events, never fixed sleeps) is bounded by this;
# a green run returns as soon as the state holds, so it costs nothing when all is well.
WAIT_MS = 30000
_FAILED_RESOURCE = re.compile(r"status of (\d{3})")


# --- images --------------------------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png(width: int = 8, height: int = 8, color: Tuple[int, int, int] = (200, 80, 40),
        text: Optional[Dict[str, str]] = None) -> bytes:
    """A valid RGB PNG built with zlib/struct (optional tEXt chunks)."""
    row = b"\x00" + bytes(color) * width
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    extra = b"".join(_chunk(b"tEXt", k.encode("latin-1") + b"\x00" + v.encode("latin-1"))
                     for k, v in (text or {}).items())
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + extra
            + _chunk(b"IDAT", zlib.compress(row * height, 9)) + _chunk(b"IEND", b""))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


FINAL = png(48, 32, (20, 140, 90))  # actual size 48×32 (the UI shows requested vs actual)
PARTIAL_A = png(12, 8, (220, 30, 30))
PARTIAL_B = png(12, 8, (30, 30, 220))


def seed_gallery(generated_dir: str, count: int, now_ms: Optional[int] = None,
                 step_ms: int = 60000, prompt: Callable[[int], str] = lambda i: "seed image %d" % i,
                 session: Callable[[int], Optional[str]] = lambda i: None) -> List[str]:
    """Write ``count`` small images with ima2-gen style sidecars; newest first. Returns names."""
    os.makedirs(generated_dir, exist_ok=True)
    now_ms = now_ms or int(time.time() * 1000)
    names = []
    for i in range(count):
        created = now_ms - i * step_ms
        name = "%d_%08x_0.png" % (created, i)
        with open(os.path.join(generated_dir, name), "wb") as handle:
            handle.write(png(16, 16, ((i * 37) % 256, (i * 11) % 256, 160)))
        meta = {"prompt": prompt(i), "userPrompt": prompt(i), "revisedPrompt": None,
                "promptMode": "auto", "quality": "medium", "size": "1024x1024", "format": "png",
                "moderation": "low", "model": "gpt-5.4-mini", "provider": "oauth",
                "createdAt": created, "usage": None, "webSearchCalls": 0}
        if session(i):
            meta["sessionId"] = session(i)
        with open(os.path.join(generated_dir, name + ".json"), "w") as handle:
            json.dump(meta, handle)
        names.append(name)
    return names


# --- scripted upstream answers (docs/UPSTREAM.md §3, built on fake_upstream's transcripts) ---------
class Gate:
    """A named pause inside a scripted stream (the fake's hold): ``wait_reached()`` returns
    once the stream got there, the stream goes on after ``open()``. A client that closes the
    connection meanwhile ends the stream (``fake.closed_event`` is set)."""

    _count = 0

    def __init__(self, fake: FakeUpstream) -> None:
        Gate._count += 1
        self.fake = fake
        self.name = "ui-gate-%d" % Gate._count
        self.reached = fake.hold(self.name)

    def open(self) -> None:
        self.fake.release(self.name)

    def wait_reached(self, timeout: float = 30.0) -> None:
        assert self.reached.wait(timeout), "the upstream stream never reached its gate"


def image_stream(fake: FakeUpstream, final: bytes = FINAL,
                 partials: Sequence[bytes] = (PARTIAL_A, PARTIAL_B), gate: Optional[Gate] = None,
                 revised: Optional[str] = "A revised prompt.") -> Callable[..., None]:
    """§3a: partial images, an optional gate before the final image, completion (the
    non-streaming fallback gets the aggregated response)."""
    return fake.stream(success(b64(final), partials=[b64(p) for p in partials], revised=revised,
                               hold_before_final=gate.name if gate else None))


def text_stream(fake: FakeUpstream) -> Callable[..., None]:
    """§3b b1: the model answers in text, no image."""
    return fake.stream(text_only())


def json_answer(status: int, body: Any, headers: Sequence[Tuple[str, str]] = ()
                ) -> Callable[..., None]:
    """A JSON answer before any SSE (§3d error bodies)."""
    return http_error(status, body, headers)


def upstream_text(body: Dict[str, Any]) -> str:
    """The text part of the user message a recorded upstream request carried."""
    content = body["input"][-1]["content"]
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content if p.get("type") == "input_text")


def upstream_images(body: Dict[str, Any]) -> List[str]:
    content = body["input"][-1]["content"]
    if isinstance(content, str):
        return []
    return [p["image_url"] for p in content if p.get("type") == "input_image"]


# --- the browser ---------------------------------------------------------------------------
class ConsoleErrors:
    """Errors a page logged; 'Failed to load resource' of an expected status is allowed."""

    def __init__(self) -> None:
        self.entries: List[str] = []
        self.allowed_status: set = set()
        self.allowed_text: List[str] = []

    def add(self, text: str) -> None:
        self.entries.append(text)

    def allow_status(self, *statuses: int) -> None:
        self.allowed_status.update(statuses)

    def allow_text(self, text: str) -> None:
        """An error the test provokes on purpose (matched as a substring)."""
        self.allowed_text.append(text)

    def unexpected(self) -> List[str]:
        out = []
        for text in self.entries:
            match = _FAILED_RESOURCE.search(text)
            if "Failed to load resource" in text and match and \
                    int(match.group(1)) in self.allowed_status:
                continue
            if any(allowed in text for allowed in self.allowed_text):
                continue
            out.append(text)
        return out


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("IMA2_REQUIRE_BROWSER") == "1":  # CI: a missing browser is a failure
            pytest.fail("IMA2_REQUIRE_BROWSER=1 but %s is missing" % CHROMIUM)
        pytest.skip("browser tests need Debian's chromium at %s "
                    "(apt-get install chromium chromium-driver)" % CHROMIUM)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - tests/requirements.txt installs it
        pytest.fail("browser tests need the playwright package: "
                    "python3 -m pip install -r tests/requirements.txt")
    with sync_playwright() as play:
        chromium = play.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: Any) -> str:
    """Where screenshots go (IMA2_UI_ARTIFACTS, else a temp folder printed in the report)."""
    path = os.environ.get("IMA2_UI_ARTIFACTS") or str(tmp_path_factory.mktemp("ui-artifacts"))
    os.makedirs(path, exist_ok=True)
    return path


class Studio:
    """A live ima2 on the fake upstream plus browser pages on it."""

    def __init__(self, browser: Any, tmp: str, fake: FakeUpstream, **env: Any) -> None:
        self.browser = browser
        self.tmp = tmp
        self.fake = fake
        self.env = dict(env)
        self.env.setdefault("IMA2_OAUTH_URL", fake.url)
        self.generated = os.path.join(tmp, "state", "generated")
        self.server: Optional[LiveServer] = None
        self.errors = ConsoleErrors()
        self.contexts: List[Any] = []
        self.pages: List[Any] = []
        self.requests: List[Tuple[str, str]] = []

    def start(self) -> "Studio":
        self.server = LiveServer(self.tmp, **self.env)
        return self

    def restart(self) -> "Studio":
        assert self.server is not None
        self.server.stop()
        self.server = LiveServer(self.tmp, **self.env)
        return self

    @property
    def url(self) -> str:
        assert self.server is not None, "call start() first"
        return self.server.url

    def new_page(self, view: str = "studio", viewport: Dict[str, int] = DESKTOP,
                 context: Any = None) -> Any:
        if context is None:
            context = self.browser.new_context(viewport=viewport, service_workers="block")
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=self.url)
            self.contexts.append(context)
        page = context.new_page()
        # Generous bounds: a green run never waits them out, a busy machine must not fail.
        page.set_default_timeout(WAIT_MS)
        page.on("console", lambda msg: self.errors.add("console.%s: %s (%s)" % (
            msg.type, msg.text, msg.location.get("url", ""))) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.add("pageerror: %s" % exc))
        page.on("request", lambda req: self.requests.append((req.method, req.url)))
        self.pages.append(page)
        self.goto(page, view)
        return page

    def goto(self, page: Any, view: str = "studio") -> None:
        page.goto(self.url + "/#" + view)
        page.wait_for_selector("html[data-ready='1']")

    def reload(self, page: Any) -> None:
        page.reload()
        page.wait_for_selector("html[data-ready='1']")

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        assert self.server is not None
        return self.server.request(method, path, **kwargs)

    def gallery_files(self) -> List[str]:
        if not os.path.isdir(self.generated):
            return []
        return sorted(f for f in os.listdir(self.generated)
                      if not f.startswith(".") and not f.endswith(".json"))

    def close(self) -> None:
        for context in self.contexts:
            try:
                context.close()
            except Exception:  # noqa: BLE001 - the browser may already be gone
                pass
        if self.server is not None:
            self.server.stop()


@pytest.fixture
def studio_factory(browser: Any, tmp_path: Any) -> Iterator[Callable[..., Studio]]:
    """``studio_factory(**env)`` → an unstarted Studio (seed files, then ``.start()``)."""
    made: List[Tuple[Studio, FakeUpstream]] = []

    def make(**env: Any) -> Studio:
        fake = FakeUpstream()
        studio = Studio(browser, str(tmp_path / ("s%d" % len(made))), fake, **env)
        made.append((studio, fake))
        return studio

    yield make
    problems = []
    for studio, fake in made:
        problems.extend(studio.errors.unexpected())
        studio.close()
        fake.stop()
    if problems:
        pytest.fail("console errors in the page:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def studio(studio_factory: Callable[..., Studio]) -> Studio:
    return studio_factory().start()


def wait_for(predicate: Callable[[], Any], timeout: float = WAIT_MS / 1000, message: str = "condition"
             ) -> Any:
    return wait_until(predicate, timeout, 0.05, message)


def no_overlaps(page: Any) -> List[str]:
    """Pairs of visible controls whose boxes overlap (nested controls, and a small control laid
    wholly over a bigger one where a click reaches it, excepted), checked at the top of the page; while a modal dialog is open only the controls inside it count. A control
    in a fixed layer (a bottom bar) and one in the scrolling page beneath it never collide."""
    page.evaluate("() => window.scrollTo(0, 0)")
    return page.evaluate("""() => {
      const sel = 'button, a[href], input:not([type=hidden]), select, textarea, [role=tab]';
      // The part of an element its scrolling ancestors let through (null when clipped away).
      const clipped = (el) => {
        let r = el.getBoundingClientRect();
        let box = { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
        for (let p = el.parentElement; p; p = p.parentElement) {
          const s = getComputedStyle(p);
          if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
          const c = p.getBoundingClientRect();
          box = { left: Math.max(box.left, c.left), top: Math.max(box.top, c.top),
            right: Math.min(box.right, c.right), bottom: Math.min(box.bottom, c.bottom) };
        }
        return box.right - box.left > 1 && box.bottom - box.top > 1 ? box : null;
      };
      const modal = Array.from(document.querySelectorAll('[aria-modal="true"]'))
        .find((el) => !el.hidden && el.getClientRects().length > 0);
      const els = Array.from((modal || document).querySelectorAll(sel)).filter((el) => {
        const s = getComputedStyle(el);
        return s.visibility !== 'hidden' && el.getClientRects().length > 0
          && !el.closest('[hidden]') && clipped(el);
      });
      // Content scrolls beneath fixed bars (the phone's composer, toasts) by design: only
      // controls of the same layer can collide.
      const layer = (el) => {
        for (let p = el; p; p = p.parentElement) if (getComputedStyle(p).position === 'fixed') return p;
        return null;
      };
      const within = (s, l) => s.left >= l.left - 1 && s.top >= l.top - 1
        && s.right <= l.right + 1 && s.bottom <= l.bottom + 1;
      const onTop = (el, box) => {
        const hit = document.elementFromPoint((box.left + box.right) / 2, (box.top + box.bottom) / 2);
        return Boolean(hit) && (hit === el || el.contains(hit));
      };
      const out = [];
      const name = (el) => el.tagName + (el.id ? '#' + el.id : '') + '.' + el.className + ' "'
        + (el.getAttribute('aria-label') || el.textContent || '').trim().slice(0, 30) + '"';
      for (let i = 0; i < els.length; i++) {
        const a = clipped(els[i]);
        for (let j = i + 1; j < els.length; j++) {
          if (els[i].contains(els[j]) || els[j].contains(els[i])) continue;
          if (layer(els[i]) !== layer(els[j])) continue;
          const b = clipped(els[j]);
          // A small control laid over a bigger one on purpose (a tile's select circle or star)
          // is fine when it lies wholly inside it and a click at its centre reaches it.
          if ((within(b, a) && onTop(els[j], b)) || (within(a, b) && onTop(els[i], a))) continue;
          const ox = Math.min(a.right, b.right) - Math.max(a.left, b.left);
          const oy = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
          if (ox > 1 && oy > 1) out.push(name(els[i]) + ' × ' + name(els[j]));
        }
      }
      return out;
    }""")


def show_view(page: Any, view: str) -> None:
    """Switch the open studio to ``view`` (its hash, no reload) and wait until it shows its
    content: the session picker in node mode, the tiles in the gallery, a job in the queue."""
    page.evaluate("(v) => { location.hash = v; }", view)
    page.wait_for_selector("#view-%s:not([hidden])" % view)
    if view == "nodes":
        page.wait_for_selector("#session-select")
    elif view == "gallery":
        page.wait_for_selector("#gallery-grid .tile")
    elif view == "queue":
        page.wait_for_selector("#view-queue[data-loaded='true'] .queue-job")


def copy_artifact(src: str, artifacts: str, name: str) -> str:
    target = os.path.join(artifacts, name)
    shutil.copyfile(src, target)
    return target


# --- node mode -----------------------------------------------------------------------------
def node_ids(page: Any) -> List[str]:
    return page.eval_on_selector_all(".gnode", "els => els.map(e => e.dataset.id)")


def node(node_id: str, inner: str = "") -> str:
    return ('.gnode[data-id="%s"] ' % node_id + inner).strip()


def open_nodes(studio: "Studio", page: Any = None, **kwargs: Any) -> Any:
    """A page on node mode with its session loaded."""
    if page is None:
        page = studio.new_page("nodes", **kwargs)
    else:
        studio.goto(page, "nodes")
    page.wait_for_selector("#session-select")
    page.wait_for_function("document.getElementById('graph-save-state').dataset.version !== undefined")
    return page


def session_id(page: Any) -> str:
    return page.input_value("#session-select")


def server_graph(studio: "Studio", sid: str) -> Dict[str, Any]:
    return studio.api("GET", "/api/sessions/" + sid).json()["session"]


def wait_saved(studio: "Studio", page: Any, timeout: float = WAIT_MS / 1000) -> Dict[str, Any]:
    """Until the page says Saved and the server holds that version; returns the server graph."""
    def saved() -> Any:
        # The label is rendered in an animation frame: let a pending render run first, or a
        # stale "Saved" from before the latest change reads as current on a busy machine.
        page.evaluate("() => new Promise((done) => { requestAnimationFrame(() => done());"
                      " setTimeout(done, 100); })")
        state = page.eval_on_selector("#graph-save-state", "e => [e.textContent, e.dataset.version]")
        if not state[0].startswith("Saved"):
            return None
        graph = server_graph(studio, session_id(page))
        return graph if str(graph["graphVersion"]) == state[1] else None
    return wait_for(saved, timeout, "graph saved")


def add_root(page: Any, prompt: str = "") -> str:
    before = set(node_ids(page))
    page.click("#nodes-new-root")
    new = wait_for(lambda: [i for i in node_ids(page) if i not in before], message="new root")[0]
    if prompt:
        page.fill(node(new, ".gnode-prompt"), prompt)
    return new


def add_child(page: Any, parent: str, prompt: str = "") -> str:
    before = set(node_ids(page))
    page.click(node(parent, ".node-add-child"))
    new = wait_for(lambda: [i for i in node_ids(page) if i not in before], message="new child")[0]
    if prompt:
        page.fill(node(new, ".gnode-prompt"), prompt)
    return new


def node_status(page: Any, node_id: str) -> str:
    return page.get_attribute(node(node_id), "data-status") or ""


def node_image(page: Any, node_id: str) -> Any:
    """(kind, src) of the node's image: kind is final, partial or None."""
    return page.eval_on_selector(node(node_id), "n => { const i = n.querySelector('.gnode-img');"
                                 " return i ? [i.dataset.kind, i.getAttribute('src')] : [null, null]; }")


def each_look(page: Any, langs: Sequence[str] = ("en", "ko")) -> Iterator[Tuple[str, str]]:
    """Switch ``page`` through every language × theme (waiting for each to apply) and yield
    ``(lang, theme)`` once it shows: the loop every screenshot and axe test runs."""
    for lang in langs:
        page.select_option("#lang", lang)
        page.wait_for_function("(l) => document.documentElement.lang === l", arg=lang)
        for theme in ("light", "dark"):
            if page.evaluate("document.documentElement.dataset.theme") != theme:
                page.click("#theme-toggle")
            page.wait_for_function("(t) => document.documentElement.dataset.theme === t", arg=theme)
            yield lang, theme
