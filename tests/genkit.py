"""Shared bits of the generation tests: real image fixtures and gallery inspection."""
from __future__ import annotations

import base64
import json
import os
import threading
from typing import Any, Dict, List, Optional, Tuple

from helpers import closed_port, http_request  # noqa: F401 (re-exported)
from pngs import TINY_JPEG, TINY_WEBP, b64, make_png

FINAL_PNG = make_png(8, 6, (0, 160, 80))
FINAL = b64(FINAL_PNG)
P0 = b64(make_png(4, 3, (200, 0, 0)))
P1 = b64(make_png(4, 3, (0, 0, 200)))
REF_PNG = b64(make_png(3, 3, (10, 20, 30)))
REF_JPEG = b64(TINY_JPEG)
REF_WEBP = b64(TINY_WEBP)


def gallery(server: Any) -> List[str]:
    """Every file in the generated folder (recursively, relative), temp files included; not
    the originals an exact-size delivery keeps (``.originals/``, tested on their own)."""
    root = server.config.generated_dir
    found = []
    for folder, dirs, files in os.walk(root):
        if folder == root and ".originals" in dirs:
            dirs.remove(".originals")
        for name in files:
            found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


def images(server: Any) -> List[str]:
    return [f for f in gallery(server) if not f.endswith(".json")]


def sidecar(server: Any, filename: str) -> Dict[str, Any]:
    with open(os.path.join(server.config.generated_dir, filename + ".json"), "rb") as handle:
        return json.loads(handle.read().decode("utf-8"))


def file_bytes(server: Any, filename: str) -> bytes:
    with open(os.path.join(server.config.generated_dir, filename), "rb") as handle:
        return handle.read()


def data_url_bytes(url: str) -> Tuple[str, bytes]:
    head, _, data = url.partition(",")
    assert head.startswith("data:") and head.endswith(";base64"), head
    return head[5:-7], base64.b64decode(data)


def assert_consistent_gallery(server: Any) -> None:
    """No temp files, every image has a sidecar and every sidecar an image."""
    files = gallery(server)
    assert not [f for f in files if os.path.basename(f).startswith(".")], files
    names = set(files)
    for name in files:
        if name.endswith(".json"):
            assert name[:-5] in names, "orphan sidecar %s" % name
        else:
            assert name + ".json" in names, "image without sidecar %s" % name



class Background:
    """Run one HTTP request in a thread; ``.result`` holds the Resp (or the exception)."""

    def __init__(self, port: int, method: str, path: str, **kwargs: Any) -> None:
        self.result: Any = None
        self.done = threading.Event()

        def run() -> None:
            try:
                self.result = http_request(port, method, path, **kwargs)
            except Exception as exc:  # noqa: BLE001
                self.result = exc
            finally:
                self.done.set()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def wait(self, timeout: float = 10.0) -> Any:
        assert self.done.wait(timeout), "request did not finish"
        return self.result


def upstream_text(body: Dict[str, Any]) -> str:
    """The text part of the user message the fake received."""
    content = body["input"][-1]["content"]
    if isinstance(content, str):
        return content
    return [p for p in content if p["type"] == "input_text"][0]["text"]


def image_parts(body: Dict[str, Any]) -> List[str]:
    content = body["input"][-1]["content"]
    if isinstance(content, str):
        return []
    return [p["image_url"] for p in content if p["type"] == "input_image"]


def mime_of(data_url: str) -> Optional[str]:
    return data_url[5:].split(";", 1)[0] if data_url.startswith("data:") else None
