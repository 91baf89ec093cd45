"""Client commands that generate: ``gen``, ``edit`` and ``node`` (docs/API.md §16.5).

Owns: their checks (usage errors exit 2 before anything is sent: prompt, references that are
missing, not images or HEIC, ``-o`` with ``-n > 1``, an existing ``-o`` without ``--force``),
the SSE progress line, saving images with the extension of their bytes (never over an
existing file unless ``--force``), and Ctrl-C → ``DELETE /api/inflight/<id>`` → exit 130.
Must not: print anything but one JSON document on stdout with ``--json``.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import sys
import threading
import time
from datetime import datetime
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote

from .cli_client import (EXIT_OK, Client, ClientError, Output, Usage, discover,
                         elapsed_since, error_from_body, format_elapsed, int_flag, iter_sse,
                         transport_error)
from .images import EXT_BY_KIND, sniff

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
        raise Usage("%s not readable: %s (%s)" % (what, path, exc.strerror or exc)) from exc
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


def _seconds(value: Any) -> Optional[float]:
    """An elapsed time as a number of seconds in ``--json`` (the server sends "4.2" or 4.2)."""
    try:
        return round(float(value), 1)
    except (TypeError, ValueError):
        return None


def _check_common(opts: Dict[str, Any]) -> None:
    if opts.get("mode") not in ("auto", "direct"):
        raise Usage("--mode must be auto or direct")
    if opts.get("moderation") not in ("auto", "low"):
        raise Usage("--moderation must be auto or low")
    # --model: any name; the server accepts what the proxy lists (INVALID_IMAGE_MODEL otherwise)


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
    """Cancels the server job on Ctrl-C (docs/API.md §8 DELETE /api/inflight/:id)."""

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


class Progress:
    """The progress line on a terminal: phase, a running clock and the partial previews seen.

    A ticker thread redraws it four times a second, so the clock counts while the server is
    quiet (between phases, or before the first byte); nothing is drawn when stderr is not a
    terminal."""

    def __init__(self, out: Output, phase: str = "queued", partials: bool = True) -> None:
        self.out = out
        self.phase = phase
        self.partials = 0
        self.show_partials = partials
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def text(self) -> str:
        line = "%s %s" % (self.phase, elapsed_since(self.start))
        if self.show_partials:
            line += " · %d partial%s" % (self.partials, "" if self.partials == 1 else "s")
        return line

    def draw(self) -> None:
        if not self._stop.is_set():
            self.out.progress(self.text())

    def _tick(self) -> None:
        while not self._stop.wait(0.25):
            self.out.progress(self.text())

    def __enter__(self) -> "Progress":
        if sys.stderr.isatty():
            self.draw()
            self._thread = threading.Thread(target=self._tick, name="ima2-cli-progress",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
        self.out.clear_progress()


def _stream(client: Client, path: str, body: Dict[str, Any], timeout: float,
            out: Output) -> Dict[str, Any]:
    """POST with Accept: text/event-stream; show progress; return the ``done`` payload."""
    with Progress(out) as progress:
        # A foreground command owns its job: when it hangs up (--timeout, a crash), the server
        # cancels the job instead of finishing it behind the user's back (docs/API.md §6.8).
        conn, resp = client.open("POST", path, body, timeout,
                                 {"Accept": "text/event-stream",
                                  "X-Ima2-On-Disconnect": "cancel"})
        try:
            ctype = resp.getheader("Content-Type") or ""
            if "text/event-stream" not in ctype:
                raw = resp.read()
                if resp.status >= 400:
                    raise error_from_body(resp.status, raw)
                return json.loads(raw.decode("utf-8"))
            for event, data in iter_sse(resp):
                if event == "phase":
                    progress.phase = str(data.get("phase") or progress.phase)
                elif event == "partial":
                    progress.partials += 1
                elif event == "done":
                    return data
                elif event == "error":
                    err = data.get("error") if isinstance(data, dict) else None
                    if isinstance(err, dict):
                        raise ClientError(str(err.get("message")), err.get("code"),
                                          data.get("status"), data)
                    raise ClientError(str(err or "generation failed"), data.get("code"),
                                      data.get("status"), data)
                progress.draw()
            raise ClientError("the stream ended without a result", "STREAM_ENDED")
        except (OSError, http.client.HTTPException) as exc:  # --timeout, a dropped connection
            raise transport_error(exc, client.base) from exc
        finally:
            conn.close()  # the server cancels a job whose client went away


def _check_session(client: Client, session_id: Optional[str]) -> None:
    """``--session`` must name an existing session: nothing is generated for a typo."""
    if not session_id:
        return
    try:
        client.json("GET", "/api/sessions/" + quote(session_id, safe=""), timeout=30)
    except ClientError as exc:
        if exc.status == 404:
            raise ClientError("session %s does not exist; nothing was generated" % session_id,
                              "SESSION_NOT_FOUND", 404) from exc
        raise


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
    preset: Dict[str, Any] = {}
    if opts.get("preset"):
        from .cli_prompts import find_prompt

        preset = find_prompt(_connect(opts), opts["preset"])
        prompt = prompt or str(preset.get("prompt") or "")
    if not prompt:
        raise Usage("prompt is required (positional or via --stdin)")
    if len(opts["ref"]) > 5:
        raise Usage("at most 5 --ref images")
    _check_common(opts)
    count = int_flag(opts["count"], 1, 1, 8)
    if preset and "count" not in opts["_given"]:
        settings = preset.get("settings") or {}
        count = int_flag(settings.get("n", settings.get("count", count)), 1, 1, 8)
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
    _check_session(client, opts["session"])
    request_id = "cli_" + secrets.token_hex(6)
    body = {"prompt": prompt, "quality": opts["quality"], "size": opts["size"], "n": count,
            "references": refs, "model": opts["model"], "mode": opts["mode"],
            "moderation": opts["moderation"], "sessionId": opts["session"],
            "format": opts["format"], "requestId": request_id}
    body = {k: v for k, v in body.items() if v is not None}
    if preset:
        from .cli_prompts import apply_preset

        body = dict(apply_preset(body, preset, opts["_given"]), n=count)
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
        elapsed = result.get("elapsed") or (time.monotonic() - start)
        if opts["no-save"]:
            for entry in entries:
                out.line(str(entry["image"]))
            return EXIT_OK
        paths = _save_images([_decode_data_url(e["image"]) for e in entries], opts, out)
        if out.as_json:
            out.json({"ok": True, "requestId": result.get("requestId", request_id),
                      "elapsed": _seconds(elapsed), "images": [
                          {"path": p, "filename": e.get("filename")}
                          for p, e in zip(paths, entries)]})
        else:
            for path in paths:
                out.line("✓ " + path)
            out.line(out.dim("elapsed %s" % format_elapsed(elapsed)))
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
    _check_session(client, opts["session"])
    request_id = "cli_" + secrets.token_hex(6)
    body = {"prompt": opts["prompt"], "image": base64.b64encode(data).decode("ascii"),
            "quality": opts["quality"], "size": opts["size"], "model": opts["model"],
            "mode": opts["mode"], "moderation": opts["moderation"],
            "sessionId": opts["session"], "requestId": request_id}
    body = {k: v for k, v in body.items() if v is not None}
    timeout = float(int_flag(opts["timeout"], 180, 1))

    def work() -> int:
        with Progress(out, "working", partials=False):
            result = client.json("POST", "/api/edit", body, timeout)
        if not isinstance(result, dict) or not result.get("image"):
            raise ClientError("server returned no image", "EMPTY_RESPONSE")
        path = _save_images([_decode_data_url(result["image"])], opts, out)[0]
        if out.as_json:
            out.json({"ok": True, "path": path, "filename": result.get("filename"),
                      "requestId": request_id, "elapsed": _seconds(result.get("elapsed"))})
        else:
            out.line("✓ " + path)
            out.line(out.dim("elapsed %s" % format_elapsed(result.get("elapsed"))))
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
    _check_session(client, opts["session"])
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
                      "elapsed": _seconds(result.get("elapsed"))})
        else:
            out.line("✓ %s  %s" % (result.get("nodeId"), client.base + str(result.get("url"))))
            if path:
                out.line("✓ " + path)
            out.line(out.dim("elapsed %s" % format_elapsed(result.get("elapsed"))))
        return EXIT_OK

    return _run_cancellable(Job(client, request_id), out, work)


