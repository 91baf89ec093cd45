"""Client commands of the library: ``prompt ls|save|show|rm``, ``share`` and the ``gen
--preset`` lookup.

Owns: turning those commands into calls of ``/api/prompts`` and ``/api/shares`` and printing a
table, a line or (``--json``) exactly one JSON document. Must not: read or write the state
folder directly (the server owns it).
"""
from __future__ import annotations

import re
from typing import Any, Dict, List
from urllib.parse import quote

from .cli_client import (EXIT_OK, Client, ClientError, Output, Usage, collapse, discover,
                         when)

PROMPT_ID = re.compile(r"^p_[0-9a-f]{16}$")
# gen flag → generate-body key (the keys a preset's settings may set)
GEN_KEYS = {"quality": "quality", "size": "size", "format": "format", "count": "n",
            "model": "model", "mode": "mode", "moderation": "moderation"}
_NOT_FROM_PRESET = ("prompt", "references", "requestId", "sessionId", "image")


def find_prompt(client: Client, name_or_id: str) -> Dict[str, Any]:
    """A saved prompt by id, else by exact name, else by case-insensitive name."""
    if PROMPT_ID.match(name_or_id):
        try:
            return client.json("GET", "/api/prompts/" + name_or_id, timeout=30) or {}
        except ClientError as exc:
            if exc.status != 404:
                raise
    items = (client.json("GET", "/api/prompts", timeout=30) or {}).get("items") or []
    for same in (lambda p: p.get("name") == name_or_id,
                 lambda p: str(p.get("name") or "").casefold() == name_or_id.casefold()):
        for item in items:
            if same(item):
                return item
    raise ClientError("no saved prompt named '%s'" % name_or_id, "PROMPT_NOT_FOUND", 404)


def apply_preset(body: Dict[str, Any], preset: Dict[str, Any], given: Any) -> Dict[str, Any]:
    """``body`` with the preset's settings where no flag was written (flags win)."""
    explicit = {GEN_KEYS[name] for name in given if name in GEN_KEYS}
    out = dict(body)
    for key, value in (preset.get("settings") or {}).items():
        key = "n" if key == "count" else key
        if key in explicit or key in _NOT_FROM_PRESET or value is None:
            continue
        out[key] = value
    return out


def _when(ms: Any) -> str:
    return when(ms)


def cmd_prompt(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    if not args or args[0] not in ("ls", "save", "show", "rm"):
        raise Usage("usage: python3 ima2.py prompt ls [--search Q] | save NAME PROMPT... "
                    "[settings flags] | show NAME|ID | rm NAME|ID")
    action, rest = args[0], args[1:]
    if action in ("show", "rm") and not rest:
        raise Usage("a saved prompt's name or id is required")
    if action == "save" and len(rest) < 2:
        raise Usage("save needs a name and a prompt")
    client = discover(opts.get("server"))
    if action == "ls":
        return _prompt_ls(client, opts, out)
    if action == "save":
        return _prompt_save(client, opts, rest, out)
    found = find_prompt(client, " ".join(rest))
    if action == "rm":
        data = client.json("DELETE", "/api/prompts/" + found["id"], timeout=30) or {}
        if out.as_json:
            out.json(dict(data, ok=True))
        else:
            out.line("✓ deleted %s  %s" % (found["id"], found.get("name")))
        return EXIT_OK
    return _prompt_show(found, out)


def _prompt_ls(client: Client, opts: Dict[str, Any], out: Output) -> int:
    path = "/api/prompts" + ("?q=" + quote(opts["search"]) if opts["search"] else "")
    items = (client.json("GET", path, timeout=30) or {}).get("items") or []
    if out.as_json:
        out.json({"ok": True, "items": items})
    elif not items:
        out.line(out.dim("(no saved prompts)"))
    else:
        out.table(["ID", "NAME", "PROMPT", "SETTINGS", "UPDATED"], [
            [p["id"], collapse(p.get("name"), 30), collapse(p.get("prompt"), 40),
             collapse(" ".join("%s=%s" % kv for kv in sorted(
                 (p.get("settings") or {}).items())), 40), _when(p.get("updatedAt"))]
            for p in items])
    return EXIT_OK


def _prompt_save(client: Client, opts: Dict[str, Any], rest: List[str], out: Output) -> int:
    settings = {GEN_KEYS[k]: opts[k] for k in GEN_KEYS if opts.get(k) is not None}
    if "n" in settings:
        try:
            settings["n"] = int(settings["n"])
        except ValueError:
            raise Usage("--count must be a whole number") from None
    body = {"name": rest[0], "prompt": " ".join(rest[1:]), "settings": settings,
            "tags": opts["tag"]}
    data = client.json("POST", "/api/prompts", body, timeout=30) or {}
    if out.as_json:
        out.json(dict(data, ok=True))
    else:
        out.line("✓ saved %s  %s" % (data.get("id"), data.get("name")))
    return EXIT_OK


def _prompt_show(found: Dict[str, Any], out: Output) -> int:
    if out.as_json:
        out.json(dict(found, ok=True))
        return EXIT_OK
    out.line(out.bold("%s  %s" % (found["id"], found.get("name"))))
    out.line(found.get("prompt") or "")
    for key, value in sorted((found.get("settings") or {}).items()):
        out.line("  %s: %s" % (key, value))
    if found.get("tags"):
        out.line("tags: " + ", ".join(found["tags"]))
    out.line(out.dim("version %s · updated %s" % (found.get("version"),
                                                  _when(found.get("updatedAt")))))
    return EXIT_OK


_DURATION = re.compile(r"^([0-9]{1,7})([smhd]?)$")


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``30m``, ``24h``, ``7d`` → seconds."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise Usage("--expires takes a duration such as 3600, 30m, 24h or 7d")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[
        match.group(2)]


def cmd_share(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    if bool(args) == bool(opts["session"]):
        raise Usage("usage: python3 ima2.py share FILE... | share --session ID  "
                    "[--expires 24h] [--show-prompts] [--json]")
    body: Dict[str, Any] = {"showPrompts": bool(opts["show-prompts"])}
    if opts["expires"]:
        body["expiresIn"] = parse_duration(opts["expires"])
    if args:
        body["filenames"] = args
    else:
        body["sessionId"] = opts["session"]
    client = discover(opts.get("server"))
    data = client.json("POST", "/api/shares", body, timeout=30) or {}
    url = client.base + str(data.get("url") or "")
    if out.as_json:
        out.json(dict(data, ok=True, url=url))
    else:
        out.line(url)
        out.err("expires %s · %d image(s) · revoke: DELETE /api/shares/%s" % (
            _when(data.get("expiresAt")), len(data.get("filenames") or []), data.get("id")))
    return EXIT_OK
