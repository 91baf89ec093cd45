"""Client commands (CONTRACT §16.5 plus API parity): gen, edit, node, ls, show, ps, cancel,
ping, history, session, storage, oauth.

Owns: each command's flags, checks (usage errors exit 2 before any request), request, and
human / ``--json`` output; saving images with the extension of their bytes and never over an
existing file without ``--force``; Ctrl-C cancelling the server job before exiting 130.
Must not: print anything but the one JSON document on stdout when ``--json`` is given.
"""
from __future__ import annotations

import base64
import os
import secrets
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote, urlencode

from .cli_client import (EXIT_OK, EXIT_USAGE, Client, ClientError, Flag, Output, Usage,
                         collapse, discover, elapsed_since, error_from_body, int_flag, iter_sse,
                         parse_flags)
from .images import EXT_BY_KIND, sniff

KNOWN_MODELS = ("gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.3-codex-spark")
GEN_FLAGS = [Flag("quality", "q", default="low"), Flag("size", "s", default="1024x1024"),
             Flag("format", "f"), Flag("count", "n", default="1"),
             Flag("ref", repeatable=True), Flag("out", "o"), Flag("out-dir", "d"),
             Flag("no-save", kind="bool", default=False), Flag("stdout", kind="bool",
                                                                default=False),
             Flag("force", kind="bool", default=False), Flag("stdin", kind="bool", default=False),
             Flag("timeout", default="180"), Flag("model"), Flag("mode", default="auto"),
             Flag("moderation", default="low"), Flag("session")]

USAGE = {
    "gen": "gen <prompt> [-q low|medium|high] [-s WxH] [-f png|jpeg|webp] [-n 1..8] "
           "[--ref FILE]... [-o FILE | -d DIR | --stdout | --no-save] [--model ID] "
           "[--mode auto|direct] [--moderation auto|low] [--session ID] [--stdin] [--force] "
           "[--timeout S] [--json] [--server URL]",
    "edit": "edit <file> --prompt TEXT [-q Q] [-s WxH] [-o FILE] [--model ID] [--mode M] "
            "[--moderation M] [--session ID] [--force] [--timeout S] [--json] [--server URL]",
    "node": "node <prompt> [--parent NODE_ID] [--session ID] [-q Q] [-s WxH] [-f FORMAT] "
            "[--ref FILE]... [-o FILE] [--model ID] [--mode M] [--moderation M] [--json]",
    "ls": "ls [-n COUNT] [--session ID] [--json] [--server URL]",
    "show": "show <name> [--json] [--reveal] [--server URL]",
    "ps": "ps [--kind classic|node] [--session ID] [--terminal] [--json] [--server URL]",
    "cancel": "cancel <requestId> [--json] [--server URL]",
    "ping": "ping [--json] [--server URL]",
    "history": "history rm <filename> | history restore <filename> --trash-id ID  [--json]",
    "session": "session ls | new [TITLE] | rename <id> <title> | rm <id> | show <id>  [--json]",
    "storage": "storage status [--json] [--server URL]",
    "oauth": "oauth status [--json] [--server URL]",
}
USAGE["inflight"] = USAGE["ps"].replace("ps", "inflight", 1)


def main(command: str, argv: List[str]) -> int:
    handler = COMMANDS[command]
    spec = SPECS.get(command, [])
    out = Output("--json" in argv)
    try:
        opts, args = parse_flags(argv, spec)
    except Usage as exc:
        return out.usage("%s\nusage: python3 ima2.py %s" % (exc, USAGE[command]))
    if opts["help"]:
        out.line("usage: python3 ima2.py " + USAGE[command])
        return EXIT_OK
    try:
        return handler(opts, args, out)
    except Usage as exc:
        return out.usage(str(exc))
    except ClientError as exc:
        return out.fail(exc)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _connect(opts: Dict[str, Any]) -> Client:
    return discover(opts.get("server"))


def _read_image_file(path: str, what: str) -> Tuple[bytes, str]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise Usage("%s not readable: %s (%s)" % (what, path, exc.strerror or exc))
    kind = sniff(data[:16])
    if kind == "heic":
        raise Usage("%s is HEIC/HEIF, which is not supported: convert it to PNG or JPEG (%s)"
                    % (what, path))
    if kind is None:
        raise Usage("%s is not a PNG, JPEG, WebP or GIF image: %s" % (what, path))
    return data, kind


def _data_url(data: bytes, kind: str) -> str:
    return "data:image/%s;base64,%s" % (kind, base64.b64encode(data).decode("ascii"))


def _decode_data_url(value: str) -> bytes:
    payload = value.split(",", 1)[1] if value.startswith("data:") else value
    return base64.b64decode(payload)


def _check_common(opts: Dict[str, Any]) -> None:
    if opts.get("mode") not in ("auto", "direct"):
        raise Usage("--mode must be auto or direct")
    if opts.get("moderation") not in ("auto", "low"):
        raise Usage("--moderation must be auto or low")
    if opts.get("model") is not None and opts["model"] not in KNOWN_MODELS:
        raise Usage("--model must be one of: %s" % ", ".join(KNOWN_MODELS))


def _default_name(index: Optional[int], ext: str) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return "ima2-%s%s.%s" % (stamp, "" if index is None else "-%d" % index, ext)


def _unique(path: str) -> str:
    if not os.path.exists(path):
        return path
    root, ext = os.path.splitext(path)
    counter = 2
    while os.path.exists("%s-%d%s" % (root, counter, ext)):
        counter += 1
    return "%s-%d%s" % (root, counter, ext)


def _write_exclusive(path: str, data: bytes, force: bool) -> None:
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(path, flags | getattr(os, "O_BINARY", 0), 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _save_images(images: List[bytes], opts: Dict[str, Any], out: Output) -> List[str]:
    paths = []
    for index, data in enumerate(images):
        ext = EXT_BY_KIND.get(sniff(data[:16]) or "png", "png")
        if opts.get("out"):
            path = opts["out"]
            root, given = os.path.splitext(path)
            if given.lower().lstrip(".") not in (ext, "jpg" if ext == "jpeg" else ext):
                path = root + "." + ext
                if given:
                    out.err("note: the image is %s; saved as %s" % (ext.upper(), path))
        else:
            name = _default_name(None if len(images) == 1 else index, ext)
            path = os.path.join(opts.get("out-dir") or "", name)
            path = _unique(path)
        _write_exclusive(path, data, bool(opts.get("force")))
        paths.append(path)
    return paths


class Job:
    """Cancels the server job on Ctrl-C (CONTRACT §8 DELETE /api/inflight/:id)."""

    def __init__(self, client: Client, request_id: str) -> None:
        self.client = client
        self.request_id = request_id

    def cancel(self) -> None:
        try:
            self.client.call("DELETE", "/api/inflight/" + quote(self.request_id, safe=""),
                             timeout=5)
        except ClientError:
            pass


def _run_cancellable(job: Job, out: Output, work: Callable[[], int]) -> int:
    try:
        return work()
    except KeyboardInterrupt:
        out.clear_progress()
        job.cancel()
        out.err("✗ canceled %s" % job.request_id)
        if out.as_json:
            out.json({"ok": False, "code": "CANCELED", "message": "canceled by Ctrl-C",
                      "error": "canceled by Ctrl-C", "hint": None,
                      "requestId": job.request_id})
        return 130


def _stream(client: Client, path: str, body: Dict[str, Any], timeout: float,
            out: Output) -> Dict[str, Any]:
    """POST with Accept: text/event-stream; show progress; return the ``done`` payload."""
    start = time.monotonic()
    conn, resp = client.open("POST", path, body, timeout, {"Accept": "text/event-stream"})
    try:
        ctype = resp.getheader("Content-Type") or ""
        if "text/event-stream" not in ctype:
            raw = resp.read()
            if resp.status >= 400:
                raise error_from_body(resp.status, raw)
            import json

            return json.loads(raw.decode("utf-8"))
        partials, phase = 0, "queued"
        for event, data in iter_sse(resp):
            if event == "phase":
                phase = str(data.get("phase") or phase)
            elif event == "partial":
                partials += 1
            elif event == "done":
                out.clear_progress()
                return data
            elif event == "error":
                out.clear_progress()
                err = data.get("error") if isinstance(data, dict) else None
                if isinstance(err, dict):
                    raise ClientError(str(err.get("message")), err.get("code"),
                                      data.get("status"), data)
                raise ClientError(str(err or "generation failed"), data.get("code"),
                                  data.get("status"), data)
            out.progress("%s %s · %d partial%s" % (phase, elapsed_since(start), partials,
                                                 "" if partials == 1 else "s"))
        raise ClientError("the stream ended without a result", "STREAM_ENDED")
    finally:
        conn.close()


def _ticker(out: Output, stop: threading.Event, start: float) -> None:
    while not stop.wait(0.25):
        out.progress("working %s" % elapsed_since(start))


# --------------------------------------------------------------------------------------
# gen / edit / node
# --------------------------------------------------------------------------------------
def _prompt_from(args: List[str], use_stdin: bool) -> str:
    prompt = " ".join(args).strip()
    if use_stdin and not sys.stdin.isatty():
        extra = sys.stdin.read().strip()
        prompt = (prompt + " " + extra).strip() if prompt else extra
    return prompt


def cmd_gen(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    prompt = _prompt_from(args, opts["stdin"])
    if not prompt:
        raise Usage("prompt is required (positional or via --stdin)")
    if len(opts["ref"]) > 5:
        raise Usage("at most 5 --ref images")
    _check_common(opts)
    count = int_flag(opts["count"], 1, 1, 8)
    if opts["format"] is not None and opts["format"] not in ("png", "jpeg", "webp"):
        raise Usage("--format must be png, jpeg or webp")
    if opts["out"] and count > 1:
        raise Usage("-o/--out takes one image; use --out-dir with -n %d" % count)
    if opts["stdout"] and (count > 1 or opts["out"] or opts["no-save"]):
        raise Usage("--stdout writes one image's bytes; it excludes -n > 1, -o and --no-save")
    if opts["out"] and os.path.exists(opts["out"]) and not opts["force"]:
        raise Usage("%s exists; pass --force to overwrite" % opts["out"])
    refs = [_data_url(*_read_image_file(path, "reference")) for path in opts["ref"]]
    client = _connect(opts)
    request_id = "cli_" + secrets.token_hex(6)
    body = {"prompt": prompt, "quality": opts["quality"], "size": opts["size"], "n": count,
            "references": refs, "model": opts["model"], "mode": opts["mode"],
            "moderation": opts["moderation"], "sessionId": opts["session"],
            "format": opts["format"], "requestId": request_id}
    body = {k: v for k, v in body.items() if v is not None}
    timeout = float(int_flag(opts["timeout"], 180, 1))
    job = Job(client, request_id)

    def work() -> int:
        start = time.monotonic()
        if opts["stdout"]:
            _status, _hdrs, raw = client.call("POST", "/api/generate", body, timeout,
                                              {"Accept": "image/*"})
            sys.stdout.buffer.write(raw)
            sys.stdout.buffer.flush()
            return EXIT_OK
        result = _stream(client, "/api/generate", body, timeout, out)
        entries = result.get("images") if isinstance(result.get("images"), list) else (
            [{"image": result.get("image"), "filename": result.get("filename")}]
            if result.get("image") else [])
        if not entries:
            raise ClientError("server returned no images", "EMPTY_RESPONSE")
        elapsed = result.get("elapsed") or "%.1f" % (time.monotonic() - start)
        if opts["no-save"]:
            for entry in entries:
                out.line(str(entry["image"]))
            return EXIT_OK
        paths = _save_images([_decode_data_url(e["image"]) for e in entries], opts, out)
        if out.as_json:
            out.json({"ok": True, "requestId": result.get("requestId", request_id),
                      "elapsed": elapsed, "images": [
                          {"path": p, "filename": e.get("filename")}
                          for p, e in zip(paths, entries)]})
        else:
            for path in paths:
                out.line("✓ " + path)
            out.line(out.dim("elapsed %ss" % elapsed))
        return EXIT_OK

    return _run_cancellable(job, out, work)


def cmd_edit(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    if not args:
        raise Usage("input image file is required")
    if not (opts["prompt"] or "").strip():
        raise Usage("--prompt is required")
    _check_common(opts)
    if opts["out"] and os.path.exists(opts["out"]) and not opts["force"]:
        raise Usage("%s exists; pass --force to overwrite" % opts["out"])
    data, _kind = _read_image_file(args[0], "input image")
    client = _connect(opts)
    request_id = "cli_" + secrets.token_hex(6)
    body = {"prompt": opts["prompt"], "image": base64.b64encode(data).decode("ascii"),
            "quality": opts["quality"], "size": opts["size"], "model": opts["model"],
            "mode": opts["mode"], "moderation": opts["moderation"],
            "sessionId": opts["session"], "requestId": request_id}
    body = {k: v for k, v in body.items() if v is not None}
    timeout = float(int_flag(opts["timeout"], 180, 1))

    def work() -> int:
        start = time.monotonic()
        stop = threading.Event()
        ticker = threading.Thread(target=_ticker, args=(out, stop, start), daemon=True)
        ticker.start()
        try:
            result = client.json("POST", "/api/edit", body, timeout)
        finally:
            stop.set()
            out.clear_progress()
        if not isinstance(result, dict) or not result.get("image"):
            raise ClientError("server returned no image", "EMPTY_RESPONSE")
        path = _save_images([_decode_data_url(result["image"])], opts, out)[0]
        if out.as_json:
            out.json({"ok": True, "path": path, "filename": result.get("filename"),
                      "requestId": request_id, "elapsed": result.get("elapsed")})
        else:
            out.line("✓ " + path)
            out.line(out.dim("elapsed %ss" % result.get("elapsed")))
        return EXIT_OK

    return _run_cancellable(Job(client, request_id), out, work)


def cmd_node(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    prompt = " ".join(args).strip()
    if not prompt:
        raise Usage("prompt is required")
    if len(opts["ref"]) > 5:
        raise Usage("at most 5 --ref images")
    _check_common(opts)
    if opts["out"] and os.path.exists(opts["out"]) and not opts["force"]:
        raise Usage("%s exists; pass --force to overwrite" % opts["out"])
    refs = [_data_url(*_read_image_file(path, "reference")) for path in opts["ref"]]
    client = _connect(opts)
    request_id = "cli_" + secrets.token_hex(6)
    body = {"prompt": prompt, "parentNodeId": opts["parent"], "sessionId": opts["session"],
            "quality": opts["quality"], "size": opts["size"], "format": opts["format"],
            "references": refs, "model": opts["model"], "mode": opts["mode"],
            "moderation": opts["moderation"], "requestId": request_id,
            "clientNodeId": "cli_" + secrets.token_hex(4)}
    body = {k: v for k, v in body.items() if v is not None}
    timeout = float(int_flag(opts["timeout"], 180, 1))

    def work() -> int:
        result = _stream(client, "/api/node/generate", body, timeout, out)
        path = None
        if opts["out"] and result.get("image"):
            path = _save_images([_decode_data_url(result["image"])], opts, out)[0]
        if out.as_json:
            out.json({"ok": True, "nodeId": result.get("nodeId"),
                      "filename": result.get("filename"), "url": client.base + str(
                          result.get("url") or ""), "path": path, "requestId": request_id,
                      "elapsed": result.get("elapsed")})
        else:
            out.line("✓ %s  %s" % (result.get("nodeId"), client.base + str(result.get("url"))))
            if path:
                out.line("✓ " + path)
        return EXIT_OK

    return _run_cancellable(Job(client, request_id), out, work)


# --------------------------------------------------------------------------------------
# listing commands
# --------------------------------------------------------------------------------------
def _history_pages(client: Client, session: Optional[str], page: int,
                   timeout: float = 30.0) -> Any:
    cursor: Optional[Dict[str, Any]] = None
    while True:
        query: Dict[str, Any] = {"limit": page}
        if session:
            query["sessionId"] = session
        if cursor:
            query["before"] = cursor.get("before")
            query["beforeFilename"] = cursor.get("beforeFilename")
        data = client.json("GET", "/api/history?" + urlencode(query), timeout=timeout) or {}
        yield data.get("items") or []
        cursor = data.get("nextCursor")
        if not cursor:
            return


def _when(ms: Any) -> str:
    try:
        return datetime.fromtimestamp(float(ms) / 1000, timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"


def cmd_ls(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    count = int_flag(opts["count"], 20, 1)
    client = _connect(opts)
    rows: List[Dict[str, Any]] = []
    for items in _history_pages(client, opts["session"], min(count, 500)):
        rows.extend(items)
        if len(rows) >= count:
            break
    rows = rows[:count]
    if out.as_json:
        out.json({"items": rows})
        return EXIT_OK
    if not rows:
        out.line(out.dim("(no history)"))
        return EXIT_OK
    out.table(["FILENAME", "Q", "SIZE", "WHEN", "PROMPT"], [
        [str(r.get("filename")), str(r.get("quality") or "-"), str(r.get("size") or "-"),
         _when(r.get("createdAt")), collapse(r.get("prompt"), 48)] for r in rows])
    return EXIT_OK


def cmd_show(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    if not args:
        raise Usage("filename required")
    name = args[0]
    client = _connect(opts)
    found = None
    for items in _history_pages(client, None, 500):
        found = next((r for r in items if r.get("filename") == name
                      or str(r.get("filename", "")).endswith(name)), None)
        if found:
            break
    if found is None:
        raise ClientError("not found: %s" % name, "NOT_FOUND")
    if out.as_json:
        out.json(found)
    else:
        out.line(out.bold(str(found.get("filename"))))
        out.line("prompt: %s" % (found.get("prompt") or ""))
        out.line("size: %s  quality: %s" % (found.get("size"), found.get("quality")))
        out.line("when: %s" % _when(found.get("createdAt")).replace(" ", "T"))
        out.line("url: %s%s" % (client.base, found.get("url")))
    if opts.get("reveal"):
        from .cli import open_url

        if not open_url("%s%s" % (client.base, found.get("url"))):
            out.err("(could not reveal)")
    return EXIT_OK


def cmd_ps(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    query = {k: v for k, v in (("kind", opts["kind"]), ("sessionId", opts["session"])) if v}
    if opts["terminal"]:
        query["includeTerminal"] = "1"
    client = _connect(opts)
    data = client.json("GET", "/api/inflight" + ("?" + urlencode(query) if query else ""),
                       timeout=30) or {}
    jobs, terminal = data.get("jobs") or [], data.get("terminalJobs") or []
    if out.as_json:
        out.json({"jobs": jobs, "terminalJobs": terminal} if opts["terminal"] else {"jobs": jobs})
        return EXIT_OK
    now = time.time() * 1000
    if not jobs and not terminal:
        out.line(out.dim("(no active or terminal jobs)" if opts["terminal"] else
                         "(no active jobs)"))
        return EXIT_OK
    if jobs:
        out.line(out.bold("Active jobs"))
        out.table(["ID", "KIND", "PHASE", "AGE", "PROMPT"], [
            [str(j.get("requestId"))[:10], str(j.get("kind")), str(j.get("phase")),
             "%ds" % max(0, (now - float(j.get("startedAt") or now)) / 1000),
             collapse(j.get("prompt"), 40)] for j in jobs])
    if terminal:
        if jobs:
            out.line("")
        out.line(out.bold("Terminal jobs"))
        out.table(["ID", "KIND", "STATUS", "AGE", "PROMPT"], [
            [str(j.get("requestId"))[:10], str(j.get("kind")), str(j.get("status")),
             "%ds" % max(0, (now - float(j.get("finishedAt") or now)) / 1000), ""]
            for j in terminal])
    return EXIT_OK


def cmd_cancel(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    if not args:
        raise Usage("requestId required")
    request_id = args[0]
    client = _connect(opts)
    try:
        client.call("DELETE", "/api/inflight/" + quote(request_id, safe=""), timeout=30)
    except ClientError as exc:
        return out.fail(exc, {"requestId": request_id})
    if out.as_json:
        out.json({"ok": True, "requestId": request_id})
    else:
        out.line("✓ canceled %s" % request_id)
    return EXIT_OK


def cmd_ping(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    client = _connect(opts)
    health = client.health
    if out.as_json:
        doc = {"ok": True, "base": client.base}
        doc.update({k: v for k, v in health.items() if k != "ok"})
        out.json(doc)
    else:
        out.line("✓ %s  v%s  uptime %ss  activeJobs %s" % (
            client.base, health.get("version"), health.get("uptimeSec"),
            health.get("activeJobs")))
    return EXIT_OK


# --------------------------------------------------------------------------------------
# API parity: history, session, storage, oauth
# --------------------------------------------------------------------------------------
def _sub(args: List[str], choices: Tuple[str, ...], command: str) -> Tuple[str, List[str]]:
    if not args or args[0] not in choices:
        raise Usage("usage: python3 ima2.py %s" % USAGE[command])
    return args[0], args[1:]


def _print_ok(out: Output, data: Any, text: str) -> int:
    if out.as_json:
        doc = {"ok": True}
        if isinstance(data, dict):
            doc.update(data)
        out.json(doc)
    else:
        out.line(text)
    return EXIT_OK


def cmd_history(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    action, rest = _sub(args, ("rm", "restore"), "history")
    if not rest:
        raise Usage("filename required")
    name = rest[0]
    path = "/api/history/" + quote(name, safe="")
    if action == "rm":
        client = _connect(opts)
        data = client.json("DELETE", path, timeout=30) or {}
        return _print_ok(out, data, "✓ trashed %s (trashId %s; restorable until %s)" % (
            name, data.get("trashId"), _when(data.get("unlinkAt"))))
    if not opts["trash-id"]:
        raise Usage("--trash-id is required (printed by `history rm`)")
    client = _connect(opts)
    data = client.json("POST", path + "/restore", {"trashId": opts["trash-id"]}, timeout=30)
    return _print_ok(out, data, "✓ restored %s" % name)


def cmd_session(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    action, rest = _sub(args, ("ls", "new", "rename", "rm", "show"), "session")
    if action in ("rename", "rm", "show") and not rest:
        raise Usage("session id required")
    if action == "rename" and len(rest) < 2:
        raise Usage("new title required")
    client = _connect(opts)
    if action == "ls":
        sessions = (client.json("GET", "/api/sessions", timeout=30) or {}).get("sessions") or []
        if out.as_json:
            out.json({"sessions": sessions})
        elif not sessions:
            out.line(out.dim("(no sessions)"))
        else:
            out.table(["ID", "TITLE", "NODES", "VERSION", "UPDATED"], [
                [str(s.get("id")), collapse(s.get("title"), 40), str(s.get("nodeCount")),
                 str(s.get("graphVersion")), _when(s.get("updatedAt"))] for s in sessions])
        return EXIT_OK
    if action == "new":
        title = " ".join(rest) or None
        data = client.json("POST", "/api/sessions", {"title": title} if title else {}, 30)
        session = (data or {}).get("session") or {}
        return _print_ok(out, data, "✓ %s  %s" % (session.get("id"), session.get("title")))
    session_id = quote(rest[0], safe="")
    if action == "rename":
        data = client.json("PATCH", "/api/sessions/" + session_id, {"title": " ".join(rest[1:])},
                           30)
        return _print_ok(out, data, "✓ renamed %s" % rest[0])
    if action == "rm":
        data = client.json("DELETE", "/api/sessions/" + session_id, timeout=30)
        return _print_ok(out, data, "✓ deleted %s" % rest[0])
    data = client.json("GET", "/api/sessions/" + session_id, timeout=30) or {}
    if out.as_json:
        out.json(data)
        return EXIT_OK
    session = data.get("session") or {}
    out.line(out.bold("%s  %s" % (session.get("id"), session.get("title"))))
    out.line("graphVersion: %s  nodes: %d  edges: %d" % (
        session.get("graphVersion"), len(session.get("nodes") or []),
        len(session.get("edges") or [])))
    out.line("updated: %s" % _when(session.get("updatedAt")))
    return EXIT_OK


def cmd_storage(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    _sub(args, ("status",), "storage")
    client = _connect(opts)
    data = (client.json("GET", "/api/storage/status", timeout=30) or {}).get("data") or {}
    if out.as_json:
        out.json({"ok": True, "data": data})
        return EXIT_OK
    out.line("gallery: %s (%s files)" % (data.get("generatedDirLabel"),
                                         data.get("generatedCount")))
    out.line("state: %s" % data.get("state"))
    out.line("legacy folders: %s found of %s scanned, %s files" % (
        data.get("legacySourcesFound"), data.get("legacyCandidatesScanned"),
        data.get("legacyFilesFound")))
    return EXIT_OK


def cmd_oauth(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    _sub(args, ("status",), "oauth")
    client = _connect(opts)
    data = client.json("GET", "/api/oauth/status", timeout=30) or {}
    if out.as_json:
        out.json(data)
        return EXIT_OK
    oauth = (data.get("runtime") or {}).get("oauth") or {}
    out.line("status: %s" % data.get("status"))
    out.line("proxy: %s" % oauth.get("url"))
    if data.get("models"):
        out.line("models: %s" % ", ".join(str(m) for m in data["models"]))
    return EXIT_OK


NODE_FLAGS = [f for f in GEN_FLAGS if f.name in (
    "quality", "size", "format", "ref", "out", "force", "timeout", "model", "mode",
    "moderation", "session")] + [Flag("parent")]
SPECS: Dict[str, List[Flag]] = {
    "gen": GEN_FLAGS,
    "edit": [Flag("prompt", "p"), Flag("quality", "q", default="low"),
             Flag("size", "s", default="1024x1024"), Flag("out", "o"),
             Flag("timeout", default="180"), Flag("model"), Flag("mode", default="auto"),
             Flag("moderation", default="low"), Flag("session"),
             Flag("force", kind="bool", default=False)],
    "node": NODE_FLAGS,
    "ls": [Flag("count", "n", default="20"), Flag("session")],
    "show": [Flag("reveal", kind="bool", default=False)],
    "ps": [Flag("kind"), Flag("session"), Flag("terminal", kind="bool", default=False)],
    "history": [Flag("trash-id")],
}
SPECS["inflight"] = SPECS["ps"]

COMMANDS: Dict[str, Callable[[Dict[str, Any], List[str], Output], int]] = {
    "gen": cmd_gen, "edit": cmd_edit, "node": cmd_node, "ls": cmd_ls, "show": cmd_show,
    "ps": cmd_ps, "inflight": cmd_ps, "cancel": cmd_cancel, "ping": cmd_ping,
    "history": cmd_history, "session": cmd_session, "storage": cmd_storage, "oauth": cmd_oauth,
}
