"""Gallery names: what counts as an image, where its sidecar is, its URL, name validation.

Owns: the rules shared by the history index, the trash, thumbnails and metadata read-back —
image extensions, sidecar naming (``<file>.json``, else ``<stem>.json``, docs/API.md §3.1), the
``/generated/`` URL of a relative name, the hidden folders that are never listed (trash,
thumbnail cache, any dot-entry), and ``validate_name`` (the one check every route that takes a
gallery file name runs, §19.2/§19.4/§19.15). Must not: touch the index or move files.
"""
from __future__ import annotations

import os
import stat as stat_mod
from typing import List, Optional, Tuple
from urllib.parse import quote

from ..errors import ApiError, BadRequest, NotFound
from ..images import IMAGE_EXTENSIONS

THUMBS_DIR = ".thumbs"  # hidden thumbnail cache inside the generated folder
MAX_DEPTH = 2  # files in the root, sub-folders and sub-sub-folders (docs/API.md §6.13)
DEFAULT_THUMB_PX = 384
THUMB_SIZES = (64, 128, 192, 256, 384, 512, 768, 1024)


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def stem_sidecar(name: str) -> str:
    """``x.png`` → ``x.json`` (the sibling sidecar the original's reader also accepts)."""
    return os.path.splitext(name)[0] + ".json"


def sidecar_candidates(path: str) -> Tuple[str, str]:
    """The two sidecar paths of an image, in the order the original's reader tries them."""
    folder, name = os.path.split(path)
    return path + ".json", os.path.join(folder, stem_sidecar(name))


def gallery_url(relative: str) -> str:
    """``/generated/`` + each segment encoded like JavaScript's encodeURIComponent."""
    return "/generated/" + "/".join(quote(seg, safe="-_.!~*'()") for seg in relative.split("/"))


def thumb_url(relative: str, px: int = DEFAULT_THUMB_PX) -> str:
    return "%s?thumb=%d" % (gallery_url(relative), px)


def clamp_thumb_px(px: int) -> int:
    """The smallest whitelisted size ≥ ``px`` (the largest one above the whitelist)."""
    for size in THUMB_SIZES:
        if px <= size:
            return size
    return THUMB_SIZES[-1]


def _invalid(message: str) -> ApiError:
    return BadRequest("INVALID_FILENAME", message)


def validate_name(name: Optional[str]) -> str:
    """Check a decoded gallery file name; return it as ``/``-joined segments or raise 400.

    Refused: empty, NUL, backslash, absolute paths, drive letters, empty / ``.`` / ``..``
    segments, dot-files and dot-folders (trash, thumbnail cache), anything that is not an
    image name (sidecars, directories such as ``.``), and names deeper than the gallery walk.
    """
    if not isinstance(name, str) or name == "":
        raise _invalid("filename required")
    if "\x00" in name or "\\" in name or ":" in name:
        raise _invalid("invalid filename")
    if name.startswith("/"):
        raise _invalid("filename escapes generated/")
    segments: List[str] = name.split("/")
    for seg in segments:
        if seg in ("", ".", ".."):
            raise _invalid("filename escapes generated/" if seg == ".." else "invalid filename")
        if seg.startswith("."):
            raise _invalid("hidden files are not gallery images")
    if len(segments) > MAX_DEPTH + 1:
        raise _invalid("filename is deeper than the gallery listing")
    if not is_image_name(segments[-1]):
        raise _invalid("not an image file name (.png, .jpg, .jpeg, .webp)")
    return "/".join(segments)


def inside(root: str, relative: str) -> str:
    """Absolute path of ``relative`` under ``root``; 400 if symlinks lead outside."""
    base = os.path.realpath(root)
    target = os.path.join(base, *relative.split("/"))
    real_parent = os.path.realpath(os.path.dirname(target))
    if real_parent != base and not real_parent.startswith(base + os.sep):
        raise _invalid("filename escapes generated/")
    return target


def existing_image(root: str, relative: str) -> str:
    """``inside``, for a file that must be there: 404 when it is not, 400 when it is not a
    regular file (a link or a folder is never read, moved or rewritten through this name)."""
    path = inside(root, relative)
    try:
        info = os.lstat(path)
    except OSError:
        raise NotFound("ASSET_NOT_FOUND", "Asset not found") from None
    if not stat_mod.S_ISREG(info.st_mode):
        raise BadRequest("INVALID_FILENAME", "not a regular image file")
    return path


def own_sidecar(path: str) -> Optional[str]:
    """Name of the sidecar that belongs to ``path`` alone: ``<file>.json``, else
    ``<stem>.json`` unless another image of the same stem shares it."""
    full, by_stem = sidecar_candidates(path)
    if os.path.isfile(full):
        return os.path.basename(full)
    if not os.path.isfile(by_stem):
        return None
    folder, name = os.path.split(path)
    stem = os.path.splitext(name)[0]
    for ext in IMAGE_EXTENSIONS + tuple(e.upper() for e in IMAGE_EXTENSIONS):
        other = stem + ext
        if other != name and os.path.exists(os.path.join(folder, other)):
            return None
    return os.path.basename(by_stem)
