"""Node mode in a real browser (issue 8 acceptance 1, 3 and 6, and the build items): sessions,
a root and two children generated with partial previews, the graph surviving a reload and a
server restart, reload while generating, 200 nodes panned and zoomed with one autosave per
burst, Delete only on an explicitly selected node, cancel, errors and retry."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest

from ui_support import (Gate, add_child, add_root, image_stream, json_answer, node, node_ids,
                        node_image, node_status, open_nodes, server_graph, session_id,
                        upstream_images, upstream_text, wait_for, wait_saved)

pytestmark = pytest.mark.browser
DEBOUNCE_MS = 700  # static/js/graph.js: the autosave follows this long after a burst's last change


def positions(graph: Dict[str, Any]) -> Dict[str, List[float]]:
    return {n["id"]: [n["x"], n["y"]] for n in graph["nodes"]}


def edges(graph: Dict[str, Any]) -> List[List[str]]:
    return sorted([e["source"], e["target"]] for e in graph["edges"])


def drag(page: Any, selector: str, dx: int, dy: int) -> None:
    box = page.locator(selector).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=3)
    page.mouse.move(x + dx, y + dy, steps=3)
    page.mouse.up()


def test_session_root_and_two_children_survive_reload_and_restart(studio: Any) -> None:
    gate = Gate(studio.fake)
    studio.fake.script(image_stream(studio.fake), image_stream(studio.fake, gate=gate), image_stream(studio.fake, gate=gate))
    page = open_nodes(studio)

    # A new session.
    page.click("#session-new")
    page.fill("#session-title", "Foxes")
    page.click("#session-save")
    wait_for(lambda: "Foxes" in page.inner_text("#session-select option:checked"), message="session")
    sid = session_id(page)

    root = add_root(page, "a red fox")
    page.click(node(root, ".node-generate"))
    page.wait_for_selector(node(root, ".gnode-img[data-kind='final']"))
    assert node_status(page, root) == "done"

    # Two children of the root (a branch), generated as a batch with partial previews.
    one = add_child(page, root, "the fox in winter")
    two = add_child(page, root, "the fox in summer")
    page.click("[data-i18n-label='canvas.fit']")  # all three in view
    page.click(node(one, ".gnode-head"))
    page.click(node(two, ".gnode-head"), modifiers=["Shift"])
    assert page.inner_text("#nodes-generate-selected") == "Generate selected (2)"
    page.click("#nodes-generate-selected")
    gate.wait_reached()
    wait_for(lambda: len(studio.fake.posts()) == 3, message="both children's upstream requests")
    for post in studio.fake.posts()[1:]:
        tool = [t for t in post.body["tools"] if t["type"] == "image_generation"][0]
        assert tool.get("partial_images") == 2, (
            "a child node is an edit of its parent; in SSE mode the server must ask for "
            "partial images for it too and relay them (issue 8 acceptance 1)")
    for child in (one, two):
        page.wait_for_selector(node(child, ".gnode-img[data-kind='partial']"))
        assert node_status(page, child) == "running"
    gate.open()
    for child in (one, two):
        page.wait_for_selector(node(child, ".gnode-img[data-kind='final']"))
    posts = studio.fake.posts()
    assert len(posts) == 3
    assert upstream_images(posts[0].body) == []  # the root is a generation
    texts = sorted(upstream_text(p.body) for p in posts[1:])
    assert "winter" in texts[0] + texts[1] and "summer" in texts[0] + texts[1]
    assert all(len(upstream_images(p.body)) == 1 for p in posts[1:])  # children edit the root

    # Move a child; the graph (positions, edges, parent links) is saved.
    drag(page, node(two, ".gnode-head"), 120, 60)

    def drag_saved() -> Any:
        # On a busy machine an autosave can land between two mouse moves: wait for the save
        # of where the node ended up, not just any save.
        graph = wait_saved(studio, page)
        x, y = positions(graph)[two]
        shown = page.eval_on_selector(node(two), "n => n.style.transform")
        return graph if "%dpx" % round(x) in shown and "%dpx" % round(y) in shown else None
    graph = wait_for(drag_saved, message="the dragged node's final position saved")
    saved = positions(graph)
    assert set(saved) == {root, one, two}
    assert edges(graph) == sorted([[root, one], [root, two]])
    by_id = {n["id"]: n for n in graph["nodes"]}
    assert by_id[one]["data"]["parentServerNodeId"] == by_id[root]["data"]["serverNodeId"]
    assert by_id[root]["data"]["serverNodeId"].startswith("n_")
    shown = page.eval_on_selector(node(two), "n => n.style.transform")
    assert "%dpx" % round(saved[two][0]) in shown

    def check(p: Any) -> None:
        assert sorted(node_ids(p)) == sorted([root, one, two])
        assert p.locator(".edges path.edge").count() == 2
        for n in (root, one, two):
            assert node_image(p, n)[0] == "final"
            x, y = saved[n]
            assert p.eval_on_selector(node(n), "e => e.style.transform") == \
                "translate(%gpx, %gpx)" % (x, y)
        assert p.input_value(node(one, ".gnode-prompt")) == "the fox in winter"

    studio.reload(page)
    open_nodes(studio, page)
    check(page)
    assert session_id(page) == sid

    studio.restart()
    other = open_nodes(studio)  # a new port: the browser remembers no session there
    assert session_id(other) == sid  # the most recently changed session opens
    check(other)
    assert positions(server_graph(studio, sid)) == saved


def test_reload_while_a_node_is_generating_keeps_one_node_and_shows_its_image(studio: Any) -> None:
    gate = Gate(studio.fake)
    studio.fake.script(image_stream(studio.fake, gate=gate))
    page = open_nodes(studio)
    root = add_root(page, "a slow lighthouse")
    page.click(node(root, ".node-generate"))
    page.wait_for_selector(node(root, ".gnode-img[data-kind='partial']"))
    gate.wait_reached()

    studio.reload(page)
    open_nodes(studio, page)
    # After the reload the node shows its progress (from /api/inflight), not a stale state.
    # The page's stream was cut by the reload: the job must keep running on the server (the
    # node request says X-Ima2-On-Disconnect: continue), unlike studio jobs, which cancel.
    def reconciled() -> Any:
        if node_status(page, root) != "running":
            return True
        return page.inner_text(node(root, ".gnode-phase")).startswith("Preview received")
    wait_for(reconciled, message="the node reconciled with /api/inflight")
    assert node_status(page, root) == "running", (
        "the server canceled the node job when the reloading page disconnected; node jobs "
        "must outlive their client (issue 8 acceptance 3)")
    page.wait_for_selector(node(root, ".gnode-phase"))
    gate.open()
    page.wait_for_selector(node(root, ".gnode-img[data-kind='final']"), timeout=15000)
    assert node_ids(page) == [root]  # exactly one node for the job
    graph = wait_saved(studio, page)
    assert [n["id"] for n in graph["nodes"]] == [root]
    assert graph["nodes"][0]["data"]["status"] == "done"
    assert len(studio.gallery_files()) == 1
    assert len(studio.fake.posts()) == 1


def test_a_node_whose_save_is_slow_is_not_taken_for_an_interrupted_one(studio: Any) -> None:
    """A node saves its graph before its job starts; while that save waits (a busy machine),
    /api/inflight polls do not list the job yet and must not settle the node as interrupted
    (on a loaded CI machine this hid the child's partial preview)."""
    import os

    from ima2_lib.store import FileLock

    studio.fake.script(image_stream(studio.fake))
    page = open_nodes(studio)
    root = add_root(page, "a patient heron")
    wait_saved(studio, page)
    sid = session_id(page)
    lock = os.path.join(studio.server.config.config_dir, "sessions", ".locks", sid + ".lock")
    def polls() -> int:
        page.evaluate("0")  # a call into the page delivers its request events
        return len([u for m, u in studio.requests if "/api/inflight" in u])

    with FileLock(lock):  # the graph save blocks on the session's lock file
        page.click(node(root, ".node-generate"))
        before = polls()
        wait_for(lambda: polls() >= before + 2, message="two /api/inflight polls")
        page.evaluate("() => new Promise((done) => setTimeout(done, 100))")  # their answers
        assert node_status(page, root) == "running", page.inner_text(node(root))
        assert studio.fake.posts() == []  # the job really waits for the save
    page.wait_for_selector(node(root, ".gnode-img[data-kind='final']"))
    assert node_status(page, root) == "done"
    assert page.locator(node(root, ".gnode-error")).is_hidden()


def test_two_hundred_nodes_pan_zoom_and_one_save_per_burst(studio: Any) -> None:
    sid = studio.api("GET", "/api/sessions").json()["sessions"][0]["id"]
    graph = {"nodes": [{"id": "n%d" % i, "x": (i % 20) * 300, "y": (i // 20) * 420,
                        "data": {"prompt": "node %d" % i, "status": "empty"}} for i in range(200)],
             "edges": [{"id": "e%d" % i, "source": "n%d" % (i - 1), "target": "n%d" % i,
                        "data": {}} for i in range(1, 200) if i % 20]}
    version = server_graph(studio, sid)["graphVersion"]
    resp = studio.api("PUT", "/api/sessions/%s/graph" % sid, json_body=graph,
                      headers={"If-Match": str(version)})
    assert resp.status == 200, resp
    page = open_nodes(studio)
    page.wait_for_function("document.querySelectorAll('.gnode').length === 200")
    assert page.locator(".edges path.edge").count() == 190

    # Pan with the mouse on the background, zoom with the wheel, buttons and keys.
    world = "document.querySelector('.world').style.transform"
    before = page.evaluate(world)
    box = page.locator("#canvas").bounding_box()
    empty_x, empty_y = box["x"] + 5, box["y"] + box["height"] - 5
    page.mouse.move(empty_x, empty_y)
    page.mouse.down()
    page.mouse.move(empty_x + 80, empty_y - 120, steps=4)
    page.mouse.up()
    assert page.evaluate(world) != before
    zoom = lambda: float(page.get_attribute("#canvas", "data-zoom"))  # noqa: E731
    z0 = zoom()
    page.mouse.move(box["x"] + 300, box["y"] + 200)
    page.mouse.wheel(0, -300)
    wait_for(lambda: zoom() > z0, message="wheel zoom in")
    page.click("[data-i18n-label='canvas.zoomOut']")
    page.focus("#canvas")
    page.keyboard.press("-")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("0")
    assert zoom() <= 1

    # A burst of changes (three moves and a new node) is one PUT. The autosave debounce is
    # driven explicitly: the page's clock stands still during the burst (however long the
    # steps take on a busy machine), then runs past the debounce, then far beyond it.
    wait_saved(studio, page)
    graph_puts = lambda: [u for m, u in studio.requests if m == "PUT" and "/graph" in u]  # noqa: E731
    puts_before = graph_puts()
    page.clock.install()
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)
    frames = 0

    def frame() -> None:  # one animation frame of page time, so the canvas renders
        nonlocal frames
        frames += 1
        page.clock.run_for(16)

    page.keyboard.press("0")
    for n in ("n0", "n1", "n2"):
        page.click(node(n, ".gnode-head"))
        frame()
        page.keyboard.press("Shift+ArrowDown")
        frame()
    before = set(node_ids(page))
    page.click("#nodes-new-root")

    def new_root() -> Any:
        frame()
        return [i for i in node_ids(page) if i not in before]
    extra = wait_for(new_root, message="new root")[0]
    page.fill(node(extra, ".gnode-prompt"), "one more")
    assert frames * 16 < DEBOUNCE_MS, "the burst took more page time than the debounce"
    assert graph_puts() == puts_before, "saved before the burst ended (the clock stood still)"
    page.clock.run_for(DEBOUNCE_MS + 100)  # the save is due now ...
    page.clock.run_for(10 * DEBOUNCE_MS)  # ... and a second one, if any, too
    page.clock.resume()
    graph = wait_saved(studio, page)
    puts = graph_puts()
    assert len(puts) - len(puts_before) == 1, puts[len(puts_before):]
    assert len(graph["nodes"]) == 201
    moved = {n["id"]: n["y"] for n in graph["nodes"]}
    assert moved["n0"] == 20 and moved["n1"] == 20 and moved["n2"] == 20


def test_delete_key_only_removes_an_explicitly_selected_node(studio: Any) -> None:
    page = open_nodes(studio)
    keep = add_root(page, "keep me")
    gone = add_root(page, "delete me")
    child = add_child(page, gone, "child of the deleted one")
    wait_saved(studio, page)
    # Nothing selected: Delete on the canvas does nothing; typing Delete in a prompt neither.
    page.click("#canvas", position={"x": 3, "y": 3})
    page.keyboard.press("Delete")
    page.click(node(keep, ".gnode-prompt"))
    page.keyboard.press("End")
    page.keyboard.press("Delete")
    assert sorted(node_ids(page)) == sorted([keep, gone, child])
    # Select one node (click), then Delete removes it and its edges.
    page.click(node(gone, ".gnode-head"))
    page.keyboard.press("Delete")
    wait_for(lambda: sorted(node_ids(page)) == sorted([keep, child]), message="node deleted")
    assert page.locator(".edges path.edge").count() == 0
    # Keyboard only: Tab to a node, Enter selects it, Delete removes it.
    page.focus(node(child))
    page.keyboard.press("Enter")
    page.keyboard.press("Delete")
    wait_for(lambda: node_ids(page) == [keep], message="deleted by keyboard")
    graph = wait_saved(studio, page)
    assert [n["id"] for n in graph["nodes"]] == [keep] and graph["edges"] == []


def test_detach_delete_edges_and_save_headers(studio: Any) -> None:
    page = open_nodes(studio)
    saves: List[Dict[str, str]] = []
    page.on("request", lambda r: saves.append(r.headers)
            if r.method == "PUT" and r.url.endswith("/graph") else None)
    root = add_root(page, "root")
    kids = [add_child(page, root, "kid %d" % i) for i in range(3)]
    graph = wait_saved(studio, page)
    assert edges(graph) == sorted([root, k] for k in kids)
    page.click(node(kids[1], ".node-detach"))
    page.click(node(kids[2], ".node-delete"))
    graph = wait_saved(studio, page)
    assert edges(graph) == [[root, kids[0]]]
    assert sorted(n["id"] for n in graph["nodes"]) == sorted([root, kids[0], kids[1]])
    assert page.locator(node(kids[1], ".node-detach")).is_hidden()
    # An edge selected with a click goes with Delete.
    page.click("[data-i18n-label='canvas.fit']")
    page.locator(".edges path.edge").first.click(force=True)
    page.wait_for_selector(".edges path.edge.selected", state="attached")
    page.keyboard.press("Delete")
    graph = wait_saved(studio, page)
    assert graph["edges"] == [] and len(graph["nodes"]) == 3
    # Every save carried If-Match and the observability headers; one tab id throughout.
    assert saves and all(h.get("if-match", "").isdigit() for h in saves)
    assert all(h.get("x-ima2-graph-save-id", "").startswith("save_") for h in saves)
    assert len({h["x-ima2-graph-save-id"] for h in saves}) == len(saves)
    assert len({h.get("x-ima2-tab-id") for h in saves}) == 1
    reasons = " ".join(h.get("x-ima2-graph-save-reason", "") for h in saves)
    assert "add-child" in reasons and "delete" in reasons and "detach" in reasons


def test_cancel_error_and_retry_on_a_node(studio: Any) -> None:
    gate = Gate(studio.fake)
    moderation = {"error": {"message": "Your request was rejected by the safety system.",
                            "type": "image_generation_user_error", "code": "moderation_blocked"}}
    studio.fake.script(image_stream(studio.fake, gate=gate), json_answer(400, moderation),
                       image_stream(studio.fake, partials=()))
    studio.errors.allow_status(400, 422)
    page = open_nodes(studio)
    root = add_root(page, "cancel me")
    page.click(node(root, ".node-generate"))
    gate.wait_reached()
    page.click(node(root, ".node-cancel"))
    wait_for(lambda: node_status(page, root) == "canceled", message="canceled")
    assert studio.fake.closed_event.wait(30)
    assert studio.gallery_files() == []

    page.click(node(root, ".node-generate"))  # now labelled Retry
    wait_for(lambda: node_status(page, root) == "error", message="refused")
    text = page.inner_text(node(root, ".gnode-error"))
    assert "Refused by the safety system" in text and "Rephrase" in text
    assert page.inner_text(node(root, ".node-generate")) == "Retry"
    # On a saturated machine a click right after the error card appears was lost now and
    # then (about 1 in 8 runs beside two CPU hogs; the cause is not found — see the notes):
    # click Retry again while the node still shows the error. Three posts at most either way.
    def retried() -> bool:
        if node_status(page, root) == "error":
            page.click(node(root, ".node-generate"))
            return False
        return True
    wait_for(retried, message="the retry to start")
    page.wait_for_selector(node(root, ".gnode-img[data-kind='final']"))
    assert len(studio.fake.posts()) == 3
    assert node_status(page, root) == "done" and page.locator(node(root, ".gnode-error")).is_hidden()
    assert "null" not in page.inner_text(node(root)) and "undefined" not in page.inner_text(node(root))
    # A child cannot be generated before its parent has an image: it says why.
    empty = add_root(page, "no image yet")
    child = add_child(page, empty, "child")
    page.click(node(child, ".node-generate"))
    wait_for(lambda: "generate it first" in page.inner_text(node(child, ".gnode-error")),
             message="parent-empty hint")


def test_session_picker_creates_renames_switches_and_deletes(studio: Any) -> None:
    page = open_nodes(studio)
    first = session_id(page)
    add_root(page, "in the first session")
    wait_saved(studio, page)
    page.click("#session-new")
    page.fill("#session-title", "Second")
    page.keyboard.press("Enter")
    # The picker shows the new session as soon as it is chosen; its (empty) graph follows
    # when the load completes.
    wait_for(lambda: session_id(page) != first and node_ids(page) == [],
             message="switched to the new, empty session")
    second = session_id(page)
    page.click("#session-rename")
    page.fill("#session-title", "Second, renamed")
    page.click("#session-save")
    wait_for(lambda: "Second, renamed" in page.inner_text("#session-select option:checked"),
             message="renamed")
    titles = {s["id"]: s["title"] for s in studio.api("GET", "/api/sessions").json()["sessions"]}
    assert titles[second] == "Second, renamed"
    page.select_option("#session-select", first)
    wait_for(lambda: len(node_ids(page)) == 1, message="first session's graph")
    page.select_option("#session-select", second)
    wait_for(lambda: node_ids(page) == [], message="second session's graph")
    page.click("#session-delete")
    assert page.inner_text("#session-delete") == "Really delete?"
    page.click("#session-delete")
    wait_for(lambda: session_id(page) == first, message="back to the remaining session")
    ids = [s["id"] for s in studio.api("GET", "/api/sessions").json()["sessions"]]
    assert second not in ids and first in ids
