"""``python3 ima2.py batch FILE.jsonl|FILE.csv --out-dir DIR``: a prompt file into a folder.

Owns: reading the rows (JSONL: one object per line; CSV: a header row; ``prompt`` required,
any generate setting beside it: quality, size, format, n, model, mode, moderation, sessionId),
the row fingerprint (SHA-256 of the row's canonical JSON) that makes a run resumable — the
fingerprint is the job's ``requestId`` (``batch-<hex>``) and rows whose fingerprint is already
``done`` in ``DIR/manifest.jsonl`` are skipped, so a row is never generated twice — submitting
the rows as ``batch`` priority jobs, one progress line, writing the images and the manifest,
and Ctrl-C = cancel what this run submitted. Must not: print anything but one JSON document
on stdout with ``--json``.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from datetime import datetime
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote

from .cli_client import EXIT_OK, Client, ClientError, Output, Usage, discover

SETTINGS = ("quality", "size", "format", "n", "model", "mode", "moderation", "sessionId")
POLL_S = 0.5
CHUNK = 100


def read_rows(path: str) -> List[Dict[str, Any]]:
    try:
        with open(path, "r", encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except OSError as exc:
        raise Usage("cannot read %s (%s)" % (path, exc.strerror)) from exc
    rows: List[Dict[str, Any]] = []
    if path.lower().endswith(".csv"):
        for number, row in enumerate(csv.DictReader(text.splitlines()), start=2):
            rows.append(_row({k.strip(): v for k, v in row.items() if k and v not in (None, "")},
                             "line %d" % number))
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise Usage("%s line %d is not JSON" % (path, number)) from exc
            rows.append(_row(data, "line %d" % number))
    if not rows:
        raise Usage("%s has no rows" % path)
    return rows


def _row(data: Any, where: str) -> Dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("prompt"), str) \
            or not data["prompt"].strip():
        raise Usage("%s: a row needs a non-empty \"prompt\"" % where)
    row: Dict[str, Any] = {"prompt": data["prompt"]}
    for key in SETTINGS:
        if key in data:
            value = data[key]
            if key == "n" and isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            row[key] = value
    return row


def fingerprint(row: Dict[str, Any]) -> str:
    text = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_manifest(path: str) -> Dict[str, Dict[str, Any]]:
    """Fingerprint → latest manifest entry."""
    entries: Dict[str, Dict[str, Any]] = {}
    try:
        with open(path, "r", encoding="utf-8") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash
                if isinstance(entry, dict) and isinstance(entry.get("fingerprint"), str):
                    entries[entry["fingerprint"]] = entry
    except OSError:
        pass
    return entries


def _append(path: str, entry: Dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _done_already(entry: Optional[Dict[str, Any]], out_dir: str) -> bool:
    return bool(entry) and entry.get("state") == "done" and all(
        os.path.isfile(os.path.join(out_dir, name)) for name in entry.get("files") or [])


def _fetch(client: Client, job: Dict[str, Any], index: int, fp: str, out_dir: str) -> List[str]:
    files = []
    for k, image in enumerate(job.get("images") or []):
        ext = image["filename"].rsplit(".", 1)[-1]
        name = "%04d-%s%s.%s" % (index + 1, fp[:8], "" if k == 0 else "-%d" % k, ext)
        _status, _hdrs, data = client.call("GET", "/generated/" + quote(image["filename"]))
        temp = os.path.join(out_dir, "." + name + ".part")
        with open(temp, "wb") as handle:
            handle.write(data)
        os.replace(temp, os.path.join(out_dir, name))
        files.append(name)
    return files


def cmd_batch(opts: Dict[str, Any], args: List[str], out: Output) -> int:
    if len(args) != 1:
        raise Usage("batch needs one prompt file (.jsonl or .csv)")
    out_dir = opts.get("out-dir")
    if not out_dir:
        raise Usage("batch needs --out-dir DIR")
    rows = read_rows(args[0])
    os.makedirs(out_dir, exist_ok=True)
    run = _BatchRun(discover(opts.get("server")), out_dir)
    run.plan(rows)
    try:
        run.submit()
        run.wait(out)
    except KeyboardInterrupt:
        out.clear_progress()
        out.err("canceled: %d job(s) of this run" % run.cancel())
        return 130
    out.clear_progress()
    results = run.results
    done = sum(1 for r in results.values() if r["state"] == "done")
    failed = len(results) - done
    summary = {"rows": len(rows), "done": done, "failed": failed, "skipped": run.skipped,
               "outDir": out_dir, "manifest": run.manifest,
               "items": sorted(results.values(), key=lambda r: r.get("row") or 0)}
    if out.as_json:
        out.json(summary)
    else:
        out.line("%d done, %d failed, %d skipped (already done) -> %s"
                 % (done, failed, run.skipped, out_dir))
    return EXIT_OK if failed == 0 else 1


class _BatchRun:
    """One run of a prompt file: the rows still to do, their jobs and their outcomes."""

    def __init__(self, client: Client, out_dir: str) -> None:
        self.client, self.out_dir = client, out_dir
        self.manifest = os.path.join(out_dir, "manifest.jsonl")
        self.work: Dict[str, Tuple[int, Dict[str, Any]]] = {}  # requestId -> (row index, row)
        self.results: Dict[str, Dict[str, Any]] = {}
        self.submitted: List[str] = []
        self.sent: List[str] = []
        self.skipped = 0

    def plan(self, rows: List[Dict[str, Any]]) -> None:
        """Every row not already done by an earlier run (its files still there)."""
        previous = read_manifest(self.manifest)
        for index, row in enumerate(rows):
            fp = fingerprint(row)
            if _done_already(previous.get(fp), self.out_dir):
                self.skipped += 1
                continue
            self.work["batch-" + fp[:40]] = (index, row)

    def _entry(self, request_id: str, state: str) -> Dict[str, Any]:
        index, row = self.work[request_id]
        return {"row": index + 1, "fingerprint": fingerprint(row), "requestId": request_id,
                "prompt": row["prompt"], "state": state}

    def submit(self) -> None:
        ids = list(self.work)
        for first in range(0, len(ids), CHUNK):
            chunk = ids[first:first + CHUNK]
            body = [dict(self.work[i][1], requestId=i, kind="generate", priority="batch")
                    for i in chunk]
            self.sent.extend(chunk)  # before the answer: a Ctrl-C meanwhile still cancels them
            answer = self.client.json("POST", "/api/jobs", body)
            # 200 = a job this row already had (an earlier run); 202 = created now (it may
            # have failed already: that is this run's outcome, not one to retry)
            statuses = answer.get("statuses") or [200] * len(chunk)
            for request_id, item, status in zip(chunk, answer["jobs"], statuses):
                if "id" not in item:  # refused: {index, error, status}
                    self.results[request_id] = dict(self._entry(request_id, "failed"),
                                                    error=item["error"])
                    continue
                if status == 200 and item.get("state") in ("failed", "canceled", "interrupted"):
                    # an earlier run's job: running the batch again asks for it again
                    self.client.json("POST", "/api/jobs/%s/retry" % quote(request_id))
                self.submitted.append(request_id)

    def wait(self, out: Output) -> None:
        """Poll the jobs until each has ended; fetch the files of the done ones."""
        pending = set(self.submitted)
        while pending:
            listing = self.client.json("GET", "/api/jobs?limit=1000")
            by_id = {j["id"]: j for j in listing["jobs"]}
            for request_id in list(pending):
                job = by_id.get(request_id) or self.client.json(
                    "GET", "/api/jobs/" + quote(request_id))["job"]
                if job["state"] in ("done", "failed", "canceled", "interrupted"):
                    pending.discard(request_id)
                    self._finished(request_id, job)
            _progress(out, self.results, len(pending), listing.get("queue") or {},
                      self.skipped)
            if pending:
                time.sleep(POLL_S)

    def _finished(self, request_id: str, job: Dict[str, Any]) -> None:
        entry = self._entry(request_id, job["state"])
        if job["state"] == "done":
            index = self.work[request_id][0]
            entry["files"] = _fetch(self.client, job, index, entry["fingerprint"], self.out_dir)
        else:
            entry["error"] = job.get("error")
        _append(self.manifest, entry)
        self.results[request_id] = entry

    def cancel(self) -> int:
        """Cancel the jobs this run sent that have not ended; how many."""
        left = [r for r in self.sent if r not in self.results]
        for request_id in left:
            try:
                self.client.call("DELETE", "/api/jobs/" + quote(request_id))
            except ClientError:
                pass
        return len(left)


def _progress(out: Output, results: Dict[str, Dict[str, Any]], queued: int,
              queue: Dict[str, Any], skipped: int) -> None:
    done = sum(1 for r in results.values() if r["state"] == "done")
    text = "done %d / failed %d / queued %d" % (done, len(results) - done, queued)
    if skipped:
        text += " / skipped %d" % skipped
    if queue.get("paused"):
        text += " / paused"
        if queue.get("resumesAt"):
            text += " until " + datetime.fromtimestamp(queue["resumesAt"] / 1000.0).strftime(
                "%H:%M")
    out.progress(text)
