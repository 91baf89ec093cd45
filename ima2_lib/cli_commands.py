"""Client command table and the listing / API-parity commands (docs/API.md §16.5): ls, show,
ps, cancel, ping, history, session, storage, oauth (gen, edit, node live in ``cli_gen.py``).

Owns: dispatch (flags parsed by ``cli_args.parse_client``) and ``--help`` (never a side
effect), human tables and
``--json`` output (exactly one JSON document on stdout).
Must not: print anything but that one JSON document on stdout when ``--json`` is given.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote, urlencode

from .cli_args import COMMANDS as ARG_COMMANDS
from .cli_args import parse_client
from .cli_batch import cmd_batch
from .cli_client import (EXIT_OK, EXIT_USAGE, Client, ClientError, Output, Usage, collapse,
                         discover, format_elapsed, int_flag, open_url, when)
from .cli_gen import cmd_edit, cmd_gen, cmd_node
from .cli_library import cmd_export, cmd_fav, cmd_import, cmd_tag, cmd_unfav, history_filters
from .cli_prompts import cmd_prompt, cmd_share

USAGE = {name: command.usage for name, command in ARG_COMMANDS.items() if command.client}


def _connect(opts: Dict[str, Any]) -> Client:
    return discover(opts.get("server"))


def main(command: str, argv: List[str]) -> int:
    handler = COMMANDS[command]
    out = Output("--json" in argv)
    try:
        opts, args = parse_client(command, argv)
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
# listing commands
# --------------------------------------------------------------------------------------
def _history_pages(client: Client, session: Optional[str], page: int,
                   timeout: float = 30.0, filters: Optional[Dict[str, Any]] = None) -> Any:
    cursor: Optional[Dict[str, Any]] = None
    while True:
        query: Dict[str, Any] = dict(filters or {}, limit=page)
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


_when = when  # the one date format of the CLI (cli_client.when)


def cmd_ls(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    count = int_flag(opts["count"], 20, 1)
    client = _connect(opts)
    rows: List[Dict[str, Any]] = []
    for items in _history_pages(client, opts["session"], min(count, 500),
                                filters=history_filters(opts)):
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
        [("★ " if r.get("favorite") else "") + str(r.get("filename")),
         str(r.get("quality") or "-"), str(r.get("size") or "-"),
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
        if found.get("renderPath") or found.get("model"):
            out.line("model: %s  rendered by: %s via %s" % (
                found.get("model"), found.get("renderModel") or found.get("model"),
                found.get("renderPath") or "responses"))
        out.line("when: %s" % _when(found.get("createdAt")).replace(" ", "T"))
        out.line("url: %s%s" % (client.base, found.get("url")))
    if opts.get("reveal"):
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

    def since(ms: Any) -> str:
        try:
            return format_elapsed((now - float(ms)) / 1000)
        except (TypeError, ValueError):
            return "-"

    if jobs:
        out.line(out.bold("Active jobs"))
        out.table(["ID", "KIND", "PHASE", "ELAPSED", "PROMPT"], [
            [str(j.get("requestId")), str(j.get("kind")), str(j.get("phase")),
             since(j.get("startedAt")), collapse(j.get("prompt"), 40)] for j in jobs])
    if terminal:
        if jobs:
            out.line("")
        out.line(out.bold("Terminal jobs"))
        out.table(["ID", "KIND", "STATUS", "TOOK", "ENDED", "PROMPT"], [
            [str(j.get("requestId")), str(j.get("kind")), str(j.get("status")),
             format_elapsed(float(j.get("durationMs") or 0) / 1000),
             since(j.get("finishedAt")) + " ago", collapse(j.get("prompt"), 40)]
            for j in terminal])
    return EXIT_OK


def resolve_job_id(client: Client, given: str) -> str:
    """The full id of the job ``given`` names: itself, or the one job whose id starts with it
    (running jobs first, then finished ones). Several candidates are an error."""
    data = client.json("GET", "/api/inflight?includeTerminal=1", timeout=30) or {}
    for group in (data.get("jobs") or [], data.get("terminalJobs") or []):
        ids = [str(j.get("requestId")) for j in group]
        if given in ids:
            return given
        matches = sorted({i for i in ids if i.startswith(given)})
        if len(matches) > 1:
            raise ClientError("'%s' is the start of several job ids: %s" % (
                given, ", ".join(matches[:5]) + (" …" if len(matches) > 5 else "")),
                "AMBIGUOUS_ID")
        if matches:
            return matches[0]
    return given  # the server says whether it exists


def cmd_cancel(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    if not args:
        raise Usage("requestId required")
    client = _connect(opts)
    try:
        request_id = resolve_job_id(client, args[0])
        client.call("DELETE", "/api/inflight/" + quote(request_id, safe=""), timeout=30)
    except ClientError as exc:
        if exc.code == "AMBIGUOUS_ID":
            out.fail(exc, {"requestId": args[0]})
            return EXIT_USAGE
        return out.fail(exc, {"requestId": args[0]})
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
        out.line("✓ %s  v%s  uptime %s  activeJobs %s" % (
            client.base, health.get("version"), format_elapsed(health.get("uptimeSec")),
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
    client = _connect(opts)
    # Without --trash-id the server restores the newest trash entry of that file.
    body = {"trashId": opts["trash-id"]} if opts["trash-id"] else {}
    data = client.json("POST", path + "/restore", body, timeout=30)
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
    if data.get("reason"):
        out.line("reason: %s" % data["reason"])
    if data.get("hint"):
        out.line("hint: %s" % data["hint"])
    if data.get("models"):
        out.line("models: %s" % ", ".join(str(m) for m in data["models"]))
    paths = data.get("knownPaths") or {}
    if paths:
        out.line("render paths: %s" % ", ".join("%s → %s" % kv for kv in sorted(paths.items())))
    quota = (data.get("quota") or {}).get("primary") or {}
    if quota.get("usedPercent") is not None:
        out.line("usage: %s%% of the current window" % quota["usedPercent"])
    for warning in data.get("warnings") or []:
        out.err("warning: %s" % (warning.get("message") or warning.get("code")))
    return EXIT_OK


COMMANDS: Dict[str, Callable[[Dict[str, Any], List[str], Output], int]] = {
    "gen": cmd_gen, "edit": cmd_edit, "node": cmd_node, "ls": cmd_ls, "show": cmd_show,
    "ps": cmd_ps, "inflight": cmd_ps, "cancel": cmd_cancel, "ping": cmd_ping,
    "history": cmd_history, "session": cmd_session, "storage": cmd_storage, "oauth": cmd_oauth,
    "batch": cmd_batch, "fav": cmd_fav, "unfav": cmd_unfav, "tag": cmd_tag,
    "export": cmd_export, "import": cmd_import, "prompt": cmd_prompt, "share": cmd_share,
}
