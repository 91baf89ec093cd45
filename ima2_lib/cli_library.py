"""Library commands of the CLI: fav, unfav, tag, export, import (``ls`` filters are in
``cli_commands.py``).

Owns: turning those commands into ``POST /api/history/bulk`` (validated on the server before
anything changes), ``GET /api/export.zip`` (streamed to a temp file beside ``-o``, renamed
into place when complete) and ``POST /api/import`` (a zip sent as is; a folder is zipped into
a temp file first, images stored, nothing else read), with the usual ``--json`` documents
and exit codes.
Must not: import the server side, or leave a partial ``-o`` file behind.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any, Dict, List
from urllib.parse import urlencode

from .cli_client import (EXIT_OK, Client, ClientError, Output, Usage, discover,
                         error_from_body, transport_error)

TRANSFER_TIMEOUT = 600.0


def _bulk(client: Client, body: Dict[str, Any]) -> Dict[str, Any]:
    return client.json("POST", "/api/history/bulk", body, timeout=120) or {}


def _report(out: Output, data: Dict[str, Any], verb: str) -> int:
    results = data.get("results") or []
    if out.as_json:
        out.json(data)
    else:
        for item in results:
            if item.get("ok"):
                tags = item.get("tags")
                out.line("✓ %s %s%s" % (verb, item.get("filename"),
                                        ("  [%s]" % ", ".join(tags)) if tags else ""))
            else:
                out.err("✗ %s: %s" % (item.get("filename"), item.get("error") or
                                      item.get("code")))
    return EXIT_OK if data.get("ok", True) else 1


def cmd_fav(opts: Dict[str, Any], args: List[str], out: Output, favorite: bool = True) -> int:
    if not args:
        raise Usage("at least one filename required")
    client = discover(opts.get("server"))
    data = _bulk(client, {"action": "favorite" if favorite else "unfavorite",
                          "filenames": args})
    return _report(out, data, "favourite" if favorite else "unfavourited")


def cmd_unfav(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    return cmd_fav(opts, args, out, favorite=False)


def cmd_tag(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    if not args:
        raise Usage("at least one filename required")
    add, remove = opts["add"], opts["remove"]
    if not add and not remove:
        raise Usage("give --add TAG and/or --remove TAG")
    client = discover(opts.get("server"))
    data: Dict[str, Any] = {}
    if add:
        data = _bulk(client, {"action": "tag", "filenames": args, "tags": add})
    if remove and data.get("ok", True):
        data = _bulk(client, {"action": "untag", "filenames": args, "tags": remove})
    return _report(out, data, "tagged")


def history_filters(opts: Dict[str, Any]) -> Dict[str, Any]:
    """The server-side listing filters named by ``--fav``, ``--tag``, ``--search``,
    ``--model`` (shared by ``ls`` and ``export``)."""
    query: Dict[str, Any] = {}
    if opts.get("fav"):
        query["favorite"] = "1"
    for flag, key in (("tag", "tag"), ("search", "q"), ("model", "model")):
        if opts.get(flag):
            query[key] = opts[flag]
    return query


def cmd_export(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    target = opts["out"]
    if not target:
        raise Usage("-o FILE.zip required")
    if os.path.exists(target) and not opts["force"]:
        raise Usage("%s exists (use --force to replace it)" % target)
    query = history_filters(opts)
    if opts["session"]:
        query["sessionId"] = opts["session"]
    if args:
        if query:
            raise Usage("give file names or filters, not both")
        query = {"filenames": ",".join(args)}
    if not query:
        query = {"all": "1"}
    client = discover(opts.get("server"))
    conn, resp = client.open("GET", "/api/export.zip?" + urlencode(query),
                             timeout=TRANSFER_TIMEOUT)
    folder = os.path.dirname(os.path.abspath(target))
    size = 0
    try:
        if resp.status >= 400:
            raise error_from_body(resp.status, resp.read())
        handle = tempfile.NamedTemporaryFile(dir=folder, prefix=".ima2-export-",
                                             suffix=".part", delete=False)
        try:
            with handle:
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    handle.write(chunk)
                    size += len(chunk)
                    out.progress("exporting… %.1f MB" % (size / 1048576))
            with zipfile.ZipFile(handle.name) as archive:  # complete (central directory read)
                count = sum(1 for n in archive.namelist() if n.startswith("images/") and
                            not n.endswith(".json"))
            os.replace(handle.name, target)
        except BaseException:
            try:
                os.unlink(handle.name)
            except OSError:
                pass
            raise
    except (OSError, zipfile.BadZipFile) as exc:
        if isinstance(exc, zipfile.BadZipFile):
            raise ClientError("the export ended early (incomplete zip)",
                              "EXPORT_INCOMPLETE") from None
        raise transport_error(exc, client.base) from exc
    finally:
        out.clear_progress()
        conn.close()
    if out.as_json:
        out.json({"ok": True, "file": target, "bytes": size, "images": count})
    else:
        out.line("✓ %d images → %s (%.1f MB)" % (count, target, size / 1048576))
    return EXIT_OK


def _zip_folder(folder: str) -> str:
    handle = tempfile.NamedTemporaryFile(prefix="ima2-import-", suffix=".zip", delete=False)
    handle.close()
    with zipfile.ZipFile(handle.name, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for here, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                path = os.path.join(here, name)
                if name.startswith(".") or os.path.islink(path):
                    continue
                relative = os.path.relpath(path, folder).replace(os.sep, "/")
                archive.write(path, relative)
    return handle.name


def cmd_import(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    if len(args) != 1:
        raise Usage("one FILE.zip or FOLDER required")
    source = args[0]
    if not os.path.exists(source):
        raise Usage("%s does not exist" % source)
    client = discover(opts.get("server"))
    path = _zip_folder(source) if os.path.isdir(source) else source
    try:
        size = os.path.getsize(path)
        conn = client._connection(TRANSFER_TIMEOUT)
        try:
            with open(path, "rb") as body:
                conn.putrequest("POST", client.prefix + "/api/import")
                for key, value in client.headers({"Content-Type": "application/zip",
                                                  "Content-Length": str(size)}).items():
                    conn.putheader(key, value)
                conn.endheaders()
                while True:
                    chunk = body.read(1 << 20)
                    if not chunk:
                        break
                    conn.send(chunk)
            resp = conn.getresponse()
            raw = resp.read()
        except OSError as exc:
            raise transport_error(exc, client.base) from exc
        finally:
            conn.close()
    finally:
        if path != source:
            os.unlink(path)
    if resp.status >= 400:
        raise error_from_body(resp.status, raw)
    data = json.loads(raw.decode("utf-8"))
    if out.as_json:
        out.json(data)
        return EXIT_OK
    counts = data.get("images") or {}
    out.line("✓ imported %d images (%d renamed), %d already here; %d sessions" % (
        counts.get("imported", 0) + counts.get("renamed", 0), counts.get("renamed", 0),
        counts.get("exists", 0), len(data.get("sessions") or [])))
    return EXIT_OK
