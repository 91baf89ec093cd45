"""Validation and defaults of the image routes' request fields (docs/API.md §17, §6.9–6.11).

Owns: model resolution, quality normalisation (warning, never an error), moderation, the
``format`` whitelist (png|jpeg|webp, docs/API.md decision 4), the ``size`` shape, references (§17.6 plus
docs/API.md decision 7: each must be a real PNG/JPEG/WebP/GIF, labelled with its sniffed MIME type), the
edit ``image`` field, the client ``requestId``, prompt-mode and the style-sheet prefix
(§9.3, through ``app.style_sheet_for``). Each check raises ``ApiError`` with the contract's
message; the caller decides the order and the error family. Must not: do I/O.
"""
from __future__ import annotations

import binascii
import re
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..config import SEED_IMAGE_MODELS, UNSUPPORTED_IMAGE_MODELS
from ..errors import BadRequest
from ..images import sniff

if TYPE_CHECKING:
    from ..app import App

FORMATS = ("png", "jpeg", "webp")
MIME_BY_FORMAT = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
REF_KINDS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
QUALITIES = ("low", "medium", "high")
_DATA_URL_PREFIX = re.compile(r"^data:[^;]*;base64,")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+=*")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SIZE = re.compile(r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")


def resolve_model(app: App, raw: Any) -> str:
    """The request's model, or the configured default (never silently replaced: a default the
    proxy does not list is a warning in doctor and the status, not a substitution).

    Accepted: any model the proxy's ``/v1/models`` lists, and the seed's names. When the list
    cannot be read (proxy down, not an openai-oauth endpoint), the name is passed on and the
    upstream decides."""
    if not isinstance(raw, str) or not raw:
        return app.config.image_model_default
    if raw in UNSUPPORTED_IMAGE_MODELS:
        raise BadRequest("IMAGE_MODEL_UNSUPPORTED", "model is listed by OAuth but does not "
                         "support image_generation: %s" % raw)
    if raw in SEED_IMAGE_MODELS or raw == app.config.images_model:
        return raw
    listed = app.oauth.listed_models()
    if listed is not None and raw not in listed:
        names = list(SEED_IMAGE_MODELS) + [m for m in listed if m not in SEED_IMAGE_MODELS]
        raise BadRequest("INVALID_IMAGE_MODEL",
                         "model must be one of: %s" % ", ".join(names))
    return raw


def normalize_quality(raw: Any) -> Tuple[str, List[Dict[str, Any]]]:
    value = "medium" if raw is None else raw
    if isinstance(value, str) and value in QUALITIES:
        return value, []
    return "medium", [{"code": "QUALITY_DEFAULTED", "field": "quality",
                       "normalizedTo": "medium", "reason": "invalid-quality"}]


def moderation_ok(app: App, raw: Any) -> Optional[str]:
    """The moderation value, or None when invalid (callers pick the error's code)."""
    value = "low" if raw is None else raw
    return value if isinstance(value, str) and value in app.config.valid_moderation else None


MODERATION_MESSAGE = "moderation must be one of: auto, low"


def check_format(raw: Any) -> str:
    if raw is None:
        return "png"
    if isinstance(raw, str) and raw in FORMATS:
        return raw
    raise BadRequest("INVALID_FORMAT", "format must be one of: %s" % ", ".join(FORMATS))


BACKGROUNDS = ("auto", "opaque", "transparent")


def check_background(raw: Any) -> str:
    """``auto`` (default), ``opaque`` or ``transparent``."""
    if raw is None:
        return "auto"
    if isinstance(raw, str) and raw in BACKGROUNDS:
        return raw
    raise BadRequest("INVALID_BACKGROUND", "background must be one of: %s"
                     % ", ".join(BACKGROUNDS))


def keep_alpha(fmt: str, background: str) -> Tuple[str, List[Dict[str, Any]]]:
    """A transparent image stays PNG when JPEG (no alpha) was asked for."""
    if background == "transparent" and fmt == "jpeg":
        return "png", [{"code": "FORMAT_KEPT_FOR_TRANSPARENCY", "field": "format",
                        "requested": fmt, "actual": "png",
                        "reason": "JPEG has no transparency"}]
    return fmt, []


def check_size(raw: Any) -> str:
    """``WIDTHxHEIGHT`` or ``auto`` (the upstream enforces its own pixel budget)."""
    if raw is None:
        return "1024x1024"
    if isinstance(raw, str) and (raw == "auto" or _SIZE.match(raw)):
        return raw
    raise BadRequest("INVALID_SIZE", "size must be WIDTHxHEIGHT (e.g. 1024x1024) or auto")


def prompt_mode(raw: Any) -> str:
    return "direct" if raw == "direct" else "auto"


def sniff_b64(b64: Any) -> Optional[str]:
    """Image kind from the first bytes of a base64 str/bytes/memoryview (no full decode)."""
    head = b64[:32] if isinstance(b64, str) else bytes(b64[:32]).decode("ascii", "replace")
    head += "=" * (-len(head) % 4)
    try:
        return sniff(binascii.a2b_base64(head))
    except (binascii.Error, ValueError):
        return None


def validate_refs(app: App, raw: Any) -> List[Tuple[str, str]]:
    """References → [(mime, base64)] (§17.6 order; then each must be a real image)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadRequest("REF_NOT_ARRAY", "references must be an array")
    max_count = app.config.max_ref_count
    if len(raw) > max_count:
        raise BadRequest("REF_TOO_MANY", "references may not exceed %d items" % max_count)
    max_chars = app.config.max_ref_b64_bytes
    out: List[Tuple[str, str]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, str):
            raise BadRequest("REF_NOT_STRING", "references[%d] must be a string" % index)
        b64 = _DATA_URL_PREFIX.sub("", item, count=1)
        if not b64:
            raise BadRequest("REF_EMPTY", "references[%d] is empty" % index)
        if len(b64) > max_chars:
            raise BadRequest("REF_TOO_LARGE", "references[%d] exceeds %d bytes"
                             % (index, max_chars))
        if not _BASE64.fullmatch(b64):
            raise BadRequest("REF_NOT_BASE64", "references[%d] is not valid base64" % index)
        kind = sniff_b64(b64)
        if kind not in REF_KINDS:
            raise BadRequest("REF_NOT_IMAGE", "references[%d] is not a PNG, JPEG, WebP or "
                             "GIF image" % index)
        out.append((REF_KINDS[kind], b64))
    return out


def validate_edit_image(app: App, raw: Any) -> Tuple[str, str]:
    """The /api/edit ``image`` (raw base64 or a data URL) → (mime, base64)."""
    b64 = _DATA_URL_PREFIX.sub("", raw, count=1) if isinstance(raw, str) else ""
    if not b64 or not _BASE64.fullmatch(b64):
        raise BadRequest("INVALID_IMAGE", "image must be base64 (optionally a data URL)")
    kind = sniff_b64(b64)
    if kind not in REF_KINDS:
        raise BadRequest("INVALID_IMAGE", "image is not a PNG, JPEG, WebP or GIF image")
    return REF_KINDS[kind], b64


def choose_request_id(raw: Any, header_id: Optional[str]) -> str:
    """``body.requestId`` when given (it must be usable in a URL), else the header id."""
    if raw is None or raw == "":
        return header_id or ""
    if not isinstance(raw, str) or not _REQUEST_ID.match(raw):
        raise BadRequest("INVALID_REQUEST_ID",
                         "requestId must match [A-Za-z0-9._:-]{1,128}")
    return raw


def string_or_none(raw: Any) -> Optional[str]:
    return raw if isinstance(raw, str) else None


def apply_style(app: App, session_id: Any, prompt: str) -> Tuple[str, Optional[Dict[str, Any]],
                                                                  List[Dict[str, Any]]]:
    """(effective prompt, applied sheet or None, warnings) — §9.3 prefix, cut to the cap."""
    found = app.style_sheet_for(session_id)
    if not found or not isinstance(found.get("prefix"), str) or not found["prefix"]:
        return prompt, None, []
    effective = "%s %s" % (found["prefix"], prompt)
    cap = app.config.style_sheet_max_prefix
    warnings: List[Dict[str, Any]] = []
    if len(effective) > cap:
        effective = effective[:cap]
        warnings.append({"code": "PROMPT_TRUNCATED", "field": "prompt", "maxChars": cap,
                         "reason": "style-sheet prefix + prompt exceed the cap"})
    return effective, found.get("sheet"), warnings
