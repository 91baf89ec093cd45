"""Metadata read-back: the generation settings carried by an image someone drops on the studio.

Owns: ``POST /api/metadata/read`` logic — decoding the input (raw bytes, a data URL or bare
base64), the PNG text chunks written by ima2's generation (``ima2``: JSON of the settings;
``parameters``: A1111-style text, parsed best-effort into prompt / negative prompt /
``key: value`` options), the gallery sidecar when the bytes are those of a gallery file (found
by the given name or by size, confirmed byte for byte), and one merged ``settings`` object
(ima2 chunk first, then sidecar, then A1111 text) the UI can apply.
Must not: write anything, or answer for bytes that are not an image.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import re
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..errors import ApiError, BadRequest
from ..images import dimensions, read_png_text, sniff, sniff_mime
from ..store import read_nofollow, read_json
from .gallery import gallery_url, inside, sidecar_candidates, validate_name

if TYPE_CHECKING:
    from ..app import App

SETTINGS_KEYS = ("prompt", "userPrompt", "revisedPrompt", "effectivePrompt", "negativePrompt",
                 "promptMode", "quality", "size", "format", "moderation", "model", "provider",
                 "kind", "sessionId", "nodeId", "parentNodeId", "clientNodeId", "contextMode",
                 "searchMode", "webSearch", "refsCount", "createdAt", "seed", "renderPath",
                 "renderModel", "background")
_DATA_URL = re.compile(r"^data:[\w.+/-]*(?:;[\w=.-]+)*;base64,", re.I)
_A1111_PAIR = re.compile(r'\s*([\w][\w \-/().]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_A1111_KEYS = {"size": "size", "model": "model", "seed": "seed"}


def decode_image_field(value: Any) -> bytes:
    """Bytes of a ``data:image/...;base64,`` URL or bare (standard or URL-safe) base64."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("METADATA_NO_IMAGE",
                         'Send image bytes (Content-Type: image/png) or JSON {"dataUrl": '
                         '"data:image/png;base64,..."} or {"image": "<base64>"}')
    text = _DATA_URL.sub("", value.strip(), count=1)
    text = re.sub(r"\s+", "", text).replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("INVALID_IMAGE_DATA", "The image is not valid base64") from None


def parse_parameters(text: str) -> Dict[str, Any]:
    """Best-effort split of A1111 ``parameters`` text into prompt, negative and options."""
    lines = text.strip().replace("\r\n", "\n").split("\n")
    options: Dict[str, Any] = {}
    if lines and len(_A1111_PAIR.findall(lines[-1])) >= 2 and re.match(
            r"^\s*[\w][\w \-/().]*:\s", lines[-1]):
        for key, value in _A1111_PAIR.findall(lines.pop()):
            value = value.strip()
            if value.startswith('"'):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            options[key.strip()] = value
    prompt_lines: List[str] = []
    negative: Optional[List[str]] = None
    for line in lines:
        if negative is None and line.startswith("Negative prompt:"):
            negative = [line[len("Negative prompt:"):].strip()]
        elif negative is not None:
            negative.append(line)
        else:
            prompt_lines.append(line)
    return {"raw": text, "prompt": "\n".join(prompt_lines).strip(),
            "negativePrompt": "\n".join(negative).strip() if negative is not None else None,
            "options": options}


def _pick(source: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    if not isinstance(source, dict):
        return {}
    picked = {k: source[k] for k in SETTINGS_KEYS if source.get(k) not in (None, "")}
    options = source.get("options")
    if isinstance(options, dict):  # node sidecars keep quality/size/format/moderation here
        for key in ("quality", "size", "format", "moderation"):
            if options.get(key) not in (None, "") and key not in picked:
                picked[key] = options[key]
    return picked


def _from_parameters(parsed: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    if not parsed:
        return {}
    out: Dict[str, Any] = {}
    if parsed.get("prompt"):
        out["prompt"] = parsed["prompt"]
    if parsed.get("negativePrompt"):
        out["negativePrompt"] = parsed["negativePrompt"]
    for key, value in parsed.get("options", {}).items():
        mapped = _A1111_KEYS.get(key.lower())
        if mapped and value:
            out[mapped] = value
    return out


class MetadataReader:
    def __init__(self, app: App, history: Any) -> None:
        self.app = app
        self.history = history
        self.root = app.config.generated_dir

    def read(self, data: bytes, filename: Optional[str] = None) -> Dict[str, Any]:
        if not data:
            decode_image_field("")  # raises METADATA_NO_IMAGE with the usage hint
        kind = sniff(data[:16])
        if kind not in ("png", "jpeg", "webp", "gif"):
            raise BadRequest("UNSUPPORTED_IMAGE",
                             "Not a PNG, JPEG, WebP or GIF image (checked from its bytes)")
        warnings: List[str] = []
        texts = read_png_text(data) if kind == "png" else {}
        ima2 = None
        if "ima2" in texts:
            try:
                ima2 = json.loads(texts["ima2"])
            except ValueError:
                warnings.append("the ima2 text chunk is not JSON")
            if ima2 is not None and not isinstance(ima2, dict):
                ima2 = None
                warnings.append("the ima2 text chunk is not a JSON object")
        parameters = parse_parameters(texts["parameters"]) if "parameters" in texts else None
        relative, sidecar = self._gallery_match(data, filename)
        settings: Dict[str, Any] = {}
        source = None
        for name, picked in (("parameters", _from_parameters(parameters)),
                             ("sidecar", _pick(sidecar)), ("ima2", _pick(ima2))):
            if picked:
                settings.update(picked)
                source = name
        size = dimensions(data)
        return {"ok": True, "format": kind, "mime": sniff_mime(data[:16]),
                "width": size[0] if size else None, "height": size[1] if size else None,
                "source": source, "settings": settings or None, "ima2": ima2,
                "parameters": parameters, "sidecar": sidecar, "filename": relative,
                "url": gallery_url(relative) if relative else None, "warnings": warnings}

    def _gallery_match(self, data: bytes, filename: Optional[str]
                       ) -> Tuple[Optional[str], Optional[Dict[str, Any]]]:
        candidates: List[str] = []
        if filename:
            candidates.append(validate_name(filename))
        self.history.ensure_index()
        candidates.extend(self.history.index.names_with_size(len(data)))
        for relative in candidates:
            try:
                path = inside(self.root, relative)
                if os.path.getsize(path) != len(data) or read_nofollow(path) != data:
                    continue
            except (OSError, ApiError):
                continue
            return relative, self._sidecar(path)
        return None, None

    @staticmethod
    def _sidecar(path: str) -> Optional[Dict[str, Any]]:
        for candidate in sidecar_candidates(path):
            value = read_json(candidate, None, warn=lambda _m: None, nofollow=True)
            if isinstance(value, dict):
                return value
        return None
