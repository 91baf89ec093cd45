"""The history index: every gallery row in memory, sorted and filterable, so no request
rescans the folder.

Owns: walking the generated folder (depth 2, skipping dot-entries, symlinks, the trash and the
thumbnail cache), reading sidecars into the gallery row shape (stored pre-encoded as JSON and
deflated with a preset dictionary of the row's common text: ~150 bytes instead of ~800), the
sort order (createdAt, filename) as ascending keys (an int64 array of createdAt beside a list
of names) plus such keys per sessionId, *filters* (``q`` over folded prompt / revised prompt /
file name, favourite, tag, model, quality, size, renderPath, date range) evaluated on compact
columns kept aligned with the sort order (one byte per image per column, a folded text and a
shared tag set per image) so a filtered page of 100,000 images is a few C-level passes, pages
by bisection in both directions, and *reconciliation*: each known folder's mtime is re-checked
(``check``) and only a changed folder is re-listed (files whose inode and sidecar inode are
unchanged are not even stat'ed), so files added, removed or replaced behind ima2's back show
up. A folder whose mtime was younger than one timestamp tick when it was listed is re-listed
once more, so changes within that tick are not missed; a periodic ``deep`` check also catches
in-place rewrites. ``export_state`` / ``load_state`` give the snapshot (``history_snapshot.py``)
everything needed to restart without reading 100,000 sidecars.
Memory (about 0.6 KB per image): an image is its name, one bytes object (``_blob``: createdAt,
file signature, column codes, session code, packed row) and its folded text, plus one slot in
each aligned column — no per-image Python object beyond those three, no int objects. After a
big walk the index is copied once into fresh memory (``compact``).
Must not: know about HTTP, move or delete files, or hold state outside the instance.
"""
from __future__ import annotations

import array
import bisect
import itertools
import json
import marshal
import math
import operator
import os
import re
import struct
import threading
import time
import unicodedata
import zlib
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Set, Tuple

from ..httpio import json_bytes
from ..store import read_json
from .gallery import (MAX_DEPTH, gallery_url, is_image_name, sidecar_candidates,
                      stem_sidecar, thumb_url)

RACY_COARSE_NS = 2_000_000_000  # FAT, HFS+, some network filesystems: 1–2 s timestamps
RACY_FINE_NS = 100_000_000  # ext4, APFS, NTFS...: timestamps follow a coarse kernel clock
BULK = 64  # changes at once above which the sorted lists are rebuilt instead of edited
COMPACT_MIN = 10000  # images: a walk that found more copies the index once (``compact``)
Key = Tuple[int, str]
_NUMERIC = re.compile(r"^\s*-?[0-9]+(\.[0-9]+)?\s*$")
COLUMNS = ("model", "quality", "size", "renderPath")  # one byte code per image each
DEFAULT_RENDER_PATH = "responses"  # a sidecar without renderPath was made this way
_OVERFLOW = 255  # code of every value after the 254th distinct one of a column
_FAV_BIT = 1
MAX_TAGS = 32
MAX_TAG_CHARS = 64
_NO_TAGS: FrozenSet[str] = frozenset()


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness (the original's ``a || b`` fallbacks): [] and {} are truthy."""
    if value is None or value is False:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        return value == value and value != 0
    if isinstance(value, str):
        return value != ""
    return True


def _or(value: Any, fallback: Any) -> Any:
    return value if js_truthy(value) else fallback


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


def _created_at(meta: Dict[str, Any], mtime_ns: int) -> int:
    """``meta.createdAt`` when it is a usable number, else the mtime — always integer ms."""
    raw = meta.get("createdAt")
    if _finite(raw) and raw:
        return int(math.floor(raw))
    if isinstance(raw, str) and _NUMERIC.match(raw) and float(raw):
        return int(math.floor(float(raw)))
    return mtime_ns // 1_000_000


def fold(text: str) -> str:
    """Case- and accent-insensitive form used by search: casefold, drop combining marks,
    recompose (so Hangul syllables, decomposed to jamo on the way, come back whole)."""
    text = text.casefold()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped)


def clean_tags(raw: Any) -> List[str]:
    """The sidecar's ``tags`` as a list of distinct non-empty strings (others ignored)."""
    if not isinstance(raw, list):
        return []
    out: List[str] = []
    seen: Set[str] = set()
    for tag in raw[:MAX_TAGS]:
        if isinstance(tag, str):
            tag = tag.strip()[:MAX_TAG_CHARS]
            if tag and fold(tag) not in seen:
                seen.add(fold(tag))
                out.append(tag)
    return out


ROW_FIELDS = ("revisedPrompt", "promptMode", "quality", "size", "model", "renderPath",
              "renderModel", "background")
NODE_FIELDS = ("sessionId", "nodeId", "parentNodeId", "clientNodeId", "requestId", "kind",
               "setId", "cardId", "headline", "body", "cards")


def image_row(relative: str, meta: Dict[str, Any], mtime_ns: int) -> Dict[str, Any]:
    """One image row of docs/API.md §6.13 (plus ``thumbUrl``) from its sidecar (or ``{}``)."""
    ext = os.path.splitext(relative)[1][1:]
    row: Dict[str, Any] = {
        "filename": relative,
        "url": gallery_url(relative),
        "createdAt": _created_at(meta, mtime_ns),
        "prompt": _or(meta.get("prompt"), None),
        "userPrompt": _or(meta.get("userPrompt"), _or(meta.get("prompt"), None)),
    }
    for name in ROW_FIELDS:
        row[name] = _or(meta.get(name), None)
    row["format"] = _or(meta.get("format"), ext)
    row["provider"] = _or(meta.get("provider"), "oauth")
    row["usage"] = _or(meta.get("usage"), None)
    row["webSearchCalls"] = _or(meta.get("webSearchCalls"), 0)
    for name in NODE_FIELDS:
        row[name] = _or(meta.get(name), None)
    row["cardOrder"] = meta.get("cardOrder") if _finite(meta.get("cardOrder")) else None
    row["refsCount"] = meta.get("refsCount") if _finite(meta.get("refsCount")) else 0
    row["thumbUrl"] = thumb_url(relative)
    row["favorite"] = meta.get("favorite") is True
    row["tags"] = clean_tags(meta.get("tags"))
    return row


def card_news_row(set_dir: str, manifest: Dict[str, Any]) -> Dict[str, Any]:
    """The card-news set row without the original's absolute ``dir`` leak."""
    cards_in = manifest.get("cards") if isinstance(manifest.get("cards"), list) else []
    cards = []
    first_url = ""
    for card in cards_in:
        if not isinstance(card, dict):
            continue
        image = card.get("imageFilename")
        url = gallery_url(set_dir + "/" + image) if isinstance(image, str) and image else ""
        if url and not first_url:
            first_url = url
        cards.append({"url": url or None, "headline": card.get("headline"),
                      "body": card.get("body"), "cardOrder": card.get("cardOrder"),
                      "imageFilename": image, "status": card.get("status") or "generated"})
    title = _or(manifest.get("title"), "Untitled card news")
    row: Dict[str, Any] = image_row(set_dir + "/manifest.json", {}, 0)
    row.update({"url": first_url, "createdAt": _created_at(manifest, 0),
                "format": "card-news-set", "kind": "card-news-set", "provider": None,
                "webSearchCalls": None,
                "size": _or(manifest.get("size"), None),
                "sessionId": _or(manifest.get("sessionId"), None),
                "requestId": _or(manifest.get("requestId"), None),
                "setId": _or(manifest.get("setId"), set_dir.rsplit("/", 1)[-1]),
                "title": title, "headline": title, "cards": cards, "refsCount": 0,
                "thumbUrl": (first_url + "?thumb=%d" % 384) if first_url else None})
    return row


# --- compact row storage -------------------------------------------------------------------
# A preset dictionary of the text every row repeats; deflate finds it in its 2 KB window, so a
# ~800-byte row is stored in ~150 bytes and inflated (~2 µs) only when a page shows it.
_ZDICT = (b'"cards":null,"cardOrder":null,"refsCount":0,"thumbUrl":"/generated/?thumb=384",'
          b'"favorite":false,"tags":[]},"favorite":true,"tags":["'
          b'"webSearchCalls":0,"sessionId":null,"nodeId":null,"parentNodeId":null,'
          b'"renderPath":null,"renderModel":null,"background":null,'
          b'"clientNodeId":null,"requestId":null,"kind":null,"setId":null,"cardId":null,'
          b'"headline":null,"body":null,"usage":{"input_tokens":,"input_tokens_details":'
          b'{"cached_tokens":0},"output_tokens":,"output_tokens_details":{"reasoning_tokens":0},'
          b'"total_tokens":},"revisedPrompt":null,"promptMode":"auto","quality":"medium",'
          b'"quality":"high","quality":"low","size":"1024x1024","model":"gpt-5.4-mini",'
          b'"model":"gpt-image-2","format":"png","format":"jpeg","format":"webp",'
          b'"provider":"oauth","kind":"generate","kind":"edit","sessionId":"s_","nodeId":"n_'
          b'","requestId":"req_{"filename":"","url":"/generated/","createdAt":,"prompt":"'
          b'","userPrompt":"')
_WBITS = -11


def pack_row(row_json: bytes) -> bytes:
    deflate = zlib.compressobj(6, zlib.DEFLATED, _WBITS, 2, zlib.Z_DEFAULT_STRATEGY, _ZDICT)
    return deflate.compress(row_json) + deflate.flush()


def unpack_row(packed: bytes) -> bytes:
    inflate = zlib.decompressobj(_WBITS, _ZDICT)
    return inflate.decompress(packed) + inflate.flush()


# A file's signature: the cheap part (inode, which sidecar, sidecar inode) that scandir gives
# for free, then (mtime, size) of image and sidecar — packed into one small bytes object.
_FAST = struct.Struct("<QQB")
_FULL = struct.Struct("<qqqq")
_SIDE_NONE, _SIDE_FULL, _SIDE_STEM, _SIDE_CARD = 0, 1, 2, 3


def _fast_sig(ino: int, side_kind: int, side_ino: int) -> bytes:
    return _FAST.pack(ino & 0xFFFFFFFFFFFFFFFF, side_ino & 0xFFFFFFFFFFFFFFFF, side_kind)


def _sig(fast: bytes, img: Any, side: Any) -> bytes:
    return fast + _FULL.pack(img.st_mtime_ns, img.st_size, side.st_mtime_ns if side else 0,
                             side.st_size if side else 0)


# An indexed file is one bytes object (no other object of its own but its name and folded
# text): createdAt (int64, the sort key), the signature, the attribute codes (one byte per
# column, then the flag byte), the session code (0: none), then the packed row.
_CREATED = struct.Struct("<q")
_ATTRS = struct.Struct("<Q")
_SESSION = struct.Struct("<I")
_SIG_AT = _CREATED.size
_SIG_END = _SIG_AT + _FAST.size + _FULL.size
_SESSION_AT = _SIG_END + _ATTRS.size
_ROW_AT = _SESSION_AT + _SESSION.size
_KIND_AT = _SIG_AT + _FAST.size - 1
_INT64 = (-(1 << 63), (1 << 63) - 1)
_ATTR_BITS = 8 * (len(COLUMNS) + 1)
# What a listing read for one file, until it is applied: (blob, folded text, folded tags).
Fresh = Tuple[bytes, str, FrozenSet[str]]


def _sort_ms(created: int) -> int:
    """``createdAt`` as stored in the sort key (clamped to 64 bits; only absurd values
    differ from the row's own ``createdAt``)."""
    return min(max(created, _INT64[0]), _INT64[1])


def _blob(created: int, sig: bytes, attrs: int, session: int, row: bytes) -> bytes:
    return _CREATED.pack(created) + sig + _ATTRS.pack(attrs) + _SESSION.pack(session) + row


def _created_of(blob: bytes) -> int:
    return _CREATED.unpack_from(blob)[0]


def _attrs_of(blob: bytes) -> int:
    return _ATTRS.unpack_from(blob, _SIG_END)[0]


def _session_code_of(blob: bytes) -> int:
    return _SESSION.unpack_from(blob, _SESSION_AT)[0]


def _size_of(blob: bytes) -> int:
    """The image's byte size (-1 for a card-news set)."""
    if blob[_KIND_AT] == _SIDE_CARD:
        return -1
    return _FULL.unpack_from(blob, _SIG_AT + _FAST.size)[1]


def _row_of(blob: bytes) -> bytes:
    """The packed row (``unpack_row``)."""
    return blob[_ROW_AT:]


def _mtime_ns(sig: bytes) -> int:
    return _FULL.unpack_from(sig, _FAST.size)[0]


class _Keys:
    """Sort keys (createdAt, name) in ascending order, kept as two aligned columns — the
    createdAt values in an int64 array, the names in a list — so a key costs 16 bytes, not
    a tuple and an int object."""
    __slots__ = ("created", "names")

    def __init__(self, created: Optional["array.array[int]"] = None,
                 names: Optional[List[str]] = None) -> None:
        self.created = created if created is not None else array.array("q")
        self.names: List[str] = names if names is not None else []

    def __len__(self) -> int:
        return len(self.names)

    def key(self, pos: int) -> Key:
        return (self.created[pos], self.names[pos])

    def left(self, created: int, name: Optional[str] = None, lo: int = 0,
             hi: Optional[int] = None) -> int:
        """The first position in ``[lo, hi)`` whose key is ≥ ``(created, name)`` (``name``
        None: the first whose createdAt is ≥ ``created``)."""
        hi = len(self.names) if hi is None else hi
        pos = bisect.bisect_left(self.created, created, lo, hi)
        if name is None:
            return pos
        end = bisect.bisect_right(self.created, created, pos, hi)
        return bisect.bisect_left(self.names, name, pos, end)

    def right(self, created: int, name: str) -> int:
        """The first position whose key is > ``(created, name)``."""
        pos = bisect.bisect_left(self.created, created)
        end = bisect.bisect_right(self.created, created, pos)
        return bisect.bisect_right(self.names, name, pos, end)

    def find(self, created: int, name: str) -> int:
        pos = self.left(created, name)
        return pos if pos < len(self.names) and self.names[pos] == name and \
            self.created[pos] == created else -1

    def insert(self, created: int, name: str) -> int:
        pos = self.left(created, name)
        self.created.insert(pos, created)
        self.names.insert(pos, name)
        return pos

    def remove(self, created: int, name: str) -> int:
        pos = self.find(created, name)
        if pos >= 0:
            del self.created[pos]
            del self.names[pos]
        return pos

    def ordered(self) -> bool:
        pairs = zip(self.created, self.names)
        return all(map(operator.lt, pairs, itertools.islice(zip(self.created, self.names), 1,
                                                             None)))

    @classmethod
    def of(cls, names: List[str], created_of: Callable[[str], int]) -> "_Keys":
        """The keys of ``names`` sorted (two stable sorts: no tuple per name)."""
        names.sort()
        names.sort(key=created_of)
        return cls(array.array("q", map(created_of, names)), names)


class _Dir:
    __slots__ = ("mtime_ns", "racy", "depth")

    def __init__(self, mtime_ns: Optional[int], racy: bool, depth: int) -> None:
        self.mtime_ns = mtime_ns
        self.racy = racy
        self.depth = depth


def _join(folder: str, name: str) -> str:
    return name if not folder else folder + "/" + name


def _parent(relative: str) -> str:
    return relative.rsplit("/", 1)[0] if "/" in relative else ""


def _racy(mtime_ns: int) -> bool:
    window = RACY_COARSE_NS if mtime_ns % 1_000_000_000 == 0 else RACY_FINE_NS
    return time.time_ns() - mtime_ns < window


_TABLES: Dict[Tuple[int, int], bytes] = {}


def _select(mask_bits: int, want: int) -> bytes:
    """A ``bytes.translate`` table mapping each code byte to 1 when ``code & mask == want``."""
    table = _TABLES.get((mask_bits, want))
    if table is None:
        table = bytes(1 if (code & mask_bits) == want else 0 for code in range(256))
        _TABLES[(mask_bits, want)] = table
    return table


def _sidecar_of(name: str, jsons: Dict[str, int]) -> Tuple[Optional[str], int]:
    """The sidecar of image ``name`` in a listing and its kind: ``<name>.json`` (full), the
    stem's ``<stem>.json`` (ima2-gen's older layout), or none."""
    if name + ".json" in jsons:
        return name + ".json", _SIDE_FULL
    stem = stem_sidecar(name)
    return (stem, _SIDE_STEM) if stem in jsons else (None, _SIDE_NONE)


_NO_KEYS = _Keys()  # the keys of a session without images (never changed)


class HistoryIndex:
    """The in-memory index of one gallery folder; thread-safe."""

    def __init__(self, root: str, excluded: List[str], warn: Callable[..., None]) -> None:
        self.root = root
        self._excluded = {os.path.realpath(p) for p in excluded}
        self._warn = warn
        self._lock = threading.RLock()  # guards the data below
        self._scan_lock = threading.Lock()  # one walker at a time
        self._code_lock = threading.Lock()  # guards the column value and session tables
        self._entries: Dict[str, bytes] = {}  # name → its blob (``_blob``)
        self._order = _Keys()
        self._sessions: Dict[str, _Keys] = {}
        self._dir_names: Dict[str, Set[str]] = {}
        self._dirs: Dict[str, _Dir] = {}
        # Aligned with ``_order``: folded texts and one code byte per column + the flags.
        self._texts: List[str] = []
        self._tagsets: List[FrozenSet[str]] = []  # folded tags (the shared empty set mostly)
        self._tagset_cache: Dict[Tuple[str, ...], FrozenSet[str]] = {(): _NO_TAGS}
        self._cols: List[bytearray] = [bytearray() for _ in range(len(COLUMNS) + 1)]
        self._codes: List[Dict[str, int]] = [{} for _ in COLUMNS]
        self._values: List[List[Optional[str]]] = [[None] for _ in COLUMNS]
        self._session_ids: List[Optional[str]] = [None]  # session code → id
        self._session_codes: Dict[str, int] = {}
        self.version = 0  # bumped by every change (the snapshot writer compares it)
        self.ready = threading.Event()
        self.last_check = 0.0
        # Called after a ``check`` of a ready index with the images it found added and
        # removed behind ima2's back (ima2's own saves and deletes go through upsert/remove).
        self.on_change: Optional[Callable[[List[str], List[str]], None]] = None
        self._changes: Optional[Tuple[List[str], List[str]]] = None  # during such a check
        # Single-file updates (upsert/remove) since a folder listing began win over what that
        # listing read: it may have read the file before the update and apply after it.
        self._seq = 0
        self._touched: Dict[str, int] = {}

    # --- paths ---------------------------------------------------------------------------
    def _abs(self, relative: str) -> str:
        return os.path.join(self.root, *relative.split("/")) if relative else self.root

    # --- building / reconciling ------------------------------------------------------------
    def build(self) -> None:
        """Walk the whole gallery once (start-up); sets ``ready``."""
        with self._scan_lock:
            self._rescan("", 0)
            self._settled()
            if self.count() >= COMPACT_MIN:
                self.compact()
        self.last_check = time.monotonic()
        self.ready.set()

    def compact(self) -> None:
        """Copy the index into fresh memory and free the old copy. The walk interleaves what
        the index keeps (names, rows, texts) with what it reads and drops (listings,
        sidecars, JSON), so the kept objects end up scattered over memory pages that stay
        resident; a copy made after the old one is freed fills whole pages (a quarter less
        memory at 100,000 images). Costs about as much as loading a snapshot."""
        with self._lock:
            payload = marshal.dumps(self.export_state(), 4)
            self._entries, self._order, self._sessions = {}, _Keys(), {}
            self._dir_names, self._texts, self._tagsets = {}, [], []
            self._cols = [bytearray() for _ in range(len(COLUMNS) + 1)]
            try:
                self.load_state(marshal.loads(payload))
            except (ValueError, TypeError, KeyError, IndexError):  # never seen: read again
                self._dirs.clear()
                self._rescan("", 0)

    def check(self, deep: bool = False) -> bool:
        """Re-list every known folder whose mtime changed (``deep``: every folder, comparing
        each file's mtime and size too, which also catches files rewritten in place).
        Returns False if another walk is running."""
        if not self._scan_lock.acquire(blocking=False):
            return False
        changes: Optional[Tuple[List[str], List[str]]] = None
        if self.ready.is_set() and self.on_change is not None:
            changes = self._changes = ([], [])
        try:
            if "" not in self._dirs:
                self._rescan("", 0)
            for folder, state in list(self._dirs.items()):
                if folder not in self._dirs:
                    continue  # dropped while walking a parent
                try:
                    mtime = os.stat(self._abs(folder)).st_mtime_ns
                except OSError:
                    mtime = None
                if deep or mtime is None or mtime != state.mtime_ns or state.racy:
                    self._rescan(folder, state.depth, deep)
            self._settled()
            self.last_check = time.monotonic()
        finally:
            self._changes = None
            self._scan_lock.release()
        if changes is not None and (changes[0] or changes[1]) and self.on_change is not None:
            self.on_change(changes[0], changes[1])
        return True

    def _list(self, path: str, depth: int) -> Tuple[Dict[str, int], Dict[str, int], List[str]]:
        """(image name → inode, json name → inode, sub-folder names) of one folder;
        dot-entries and symlinks skipped, sub-folders only above the depth limit and never
        the excluded ones. Only inodes are kept so listing 100,000 files stays small."""
        images: Dict[str, int] = {}
        jsons: Dict[str, int] = {}
        subdirs: List[str] = []
        with os.scandir(path) as listing:
            for entry in listing:
                name = entry.name
                if name[0] == ".":
                    continue
                try:
                    if entry.is_symlink():
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        if depth < MAX_DEPTH and os.path.realpath(entry.path) not in \
                                self._excluded:
                            subdirs.append(name)
                        continue
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    if is_image_name(name):
                        images[name] = entry.inode()
                    elif name[-5:].lower() == ".json":
                        jsons[name] = entry.inode()
                except OSError:
                    continue
        return images, jsons, subdirs

    def _rescan(self, folder: str, depth: int, deep: bool = False) -> None:
        """Re-list one folder. A file whose inode (free from ``scandir`` on POSIX) and whose
        sidecar's inode are unchanged is kept without a ``stat``; new or replaced files are
        stat'ed and re-read. ``deep`` stats every file. New sub-folders are listed too."""
        path = self._abs(folder)
        with self._lock:
            started = self._seq
        try:
            stat = os.stat(path)
            images, jsons, subdirs = self._list(path, depth)
        except OSError:
            self._drop_dir(folder, keep_state=folder == "", depth=depth)
            return
        with self._lock:
            entries = self._entries
            known = {rel: entries[rel] for rel in self._names_in_locked(folder)
                     if rel in entries}
        fresh = self._fresh_entries(folder, path, images, jsons, known, deep)
        if depth == 2 and _parent(folder) == "cardnews" and "manifest.json" in jsons:
            self._card_news(folder, os.path.join(path, "manifest.json"), known, fresh)
        del images, jsons
        known_subdirs = self._commit_rescan(folder, depth, stat.st_mtime_ns, started, known,
                                            fresh)
        self._follow_subdirs(folder, depth, subdirs, known_subdirs)

    def _fresh_entries(self, folder: str, path: str, images: Dict[str, int],
                       jsons: Dict[str, int], known: Dict[str, Any],
                       deep: bool) -> Dict[str, Optional[Fresh]]:
        """rel → what to index (new or changed file) or None (unchanged) for the images of one
        listing (``known``: rel → its blob); files that vanish while being stat'ed are left
        out."""
        fresh: Dict[str, Optional[Fresh]] = {}
        fast_end = _SIG_AT + _FAST.size
        for name, ino in images.items():
            rel = _join(folder, name)
            sidecar, kind = _sidecar_of(name, jsons)
            fast = _fast_sig(ino, kind, jsons[sidecar] if sidecar else 0)
            old = known.get(rel)
            if old is not None and old[_SIG_AT:fast_end] == fast and not deep:
                fresh[rel] = None  # unchanged
                continue
            try:
                img = os.stat(os.path.join(path, name), follow_symlinks=False)
                side = os.stat(os.path.join(path, sidecar), follow_symlinks=False) \
                    if sidecar else None
            except OSError:
                continue
            sig = _sig(fast, img, side)
            fresh[rel] = None if old is not None and old[_SIG_AT:_SIG_END] == sig else \
                self._make_entry(
                rel, sig, os.path.join(path, sidecar) if sidecar else None)
        return fresh

    def _commit_rescan(self, folder: str, depth: int, mtime_ns: int, started: int,
                       known: Dict[str, Any], fresh: Dict[str, Optional[Fresh]]) -> List[str]:
        """Apply one folder's listing (never undoing a change recorded since it began) and
        record the folder's state; return the sub-folders known before it."""
        with self._lock:
            self._apply_listing_locked(started, known, fresh)
            # A change within the same timestamp tick as this listing would leave the mtime
            # unchanged: look once more while the folder's mtime is that young. Coarse
            # (whole-second) filesystems need a long window, fine-grained ones a short one.
            before = self._dirs.get(folder)
            settled = _Dir(mtime_ns, _racy(mtime_ns), depth)
            self._dirs[folder] = settled
            if before is None or before.mtime_ns != settled.mtime_ns or \
                    before.racy != settled.racy:
                # the snapshot must learn it, or every restart lists this folder again
                self.version += 1
            return [d for d in self._dirs if d and _parent(d) == folder]

    def _apply_listing_locked(self, started: int, known: Dict[str, Any],
                              fresh: Dict[str, Optional[Fresh]]) -> None:
        """Drop what the listing no longer has, add what is new or changed — except files
        touched (saved, deleted, restored) since the listing began: those are newer."""
        newer = {rel for rel, seq in self._touched.items() if seq > started}
        self._apply_locked([rel for rel in known if rel not in fresh and rel not in newer],
                           [(rel, new) for rel, new in fresh.items() if new and rel not in newer])

    def _follow_subdirs(self, folder: str, depth: int, subdirs: List[str],
                        known_subdirs: List[str]) -> None:
        """Forget sub-folders that are gone; list the ones seen for the first time."""
        for sub in known_subdirs:
            if sub.rsplit("/", 1)[-1] not in subdirs:
                self._drop_dir(sub)
        for name in subdirs:
            sub = _join(folder, name)
            if sub not in self._dirs:
                self._rescan(sub, depth + 1)

    def _card_news(self, folder: str, path: str, known: Dict[str, Any],
                   fresh: Dict[str, Optional[Fresh]]) -> None:
        rel = folder + "/manifest.json"
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return
        sig = _sig(_fast_sig(st.st_ino, _SIDE_CARD, 0), st, None)
        old = known.get(rel)
        if old is not None and old[_SIG_AT:_SIG_END] == sig:
            fresh[rel] = None
            return
        manifest = self._read_json(path)
        if manifest is None:
            return
        row = card_news_row(folder, manifest)
        fresh[rel] = self._entry_from_row(rel, row, sig, None)

    def _read_json(self, path: str) -> Optional[Dict[str, Any]]:
        data = read_json(path, None, warn=lambda m: self._warn("history", "sidecar_skipped",
                                                                detail=m), nofollow=True)
        return data if isinstance(data, dict) else None

    def _code(self, column: int, value: Optional[str]) -> int:
        if value is None:
            return 0
        codes = self._codes[column]
        code = codes.get(value)
        if code is None:
            with self._code_lock:
                code = codes.get(value)
                if code is None:
                    values = self._values[column]
                    if len(values) >= _OVERFLOW:
                        return _OVERFLOW
                    code = len(values)
                    values.append(value)
                    codes[value] = code
        return code

    def _session_code(self, session: Optional[str]) -> int:
        if session is None:
            return 0
        code = self._session_codes.get(session)
        if code is None:
            with self._code_lock:
                code = self._session_codes.get(session)
                if code is None:
                    code = len(self._session_ids)
                    self._session_ids.append(session)
                    self._session_codes[session] = code
        return code

    def _session_of(self, blob: bytes) -> Optional[str]:
        return self._session_ids[_SESSION.unpack_from(blob, _SESSION_AT)[0]]

    def _entry_from_row(self, rel: str, row: Dict[str, Any], sig: bytes,
                        render: Optional[str]) -> Fresh:
        """What to index for one row (the image's byte size is the one in ``sig``)."""
        session = row["sessionId"] if isinstance(row["sessionId"], str) else None
        values = [row.get("model"), row.get("quality"), row.get("size"), render]
        attrs = 0
        for column, value in enumerate(values):
            attrs |= self._code(column, value if isinstance(value, str) else None) << (
                8 * column)
        if row.get("favorite") is True:
            attrs |= _FAV_BIT << (8 * len(COLUMNS))
        text_parts = [p for p in (row.get("prompt"), row.get("revisedPrompt"), rel)
                      if isinstance(p, str)]
        blob = _blob(_sort_ms(row["createdAt"]), sig, attrs, self._session_code(session),
                     pack_row(json_bytes(row)))
        return blob, fold("\n".join(text_parts)), self._tagsets_of(tuple(row.get("tags") or ()))

    def _make_entry(self, rel: str, sig: bytes, sidecar_path: Optional[str]) -> Fresh:
        meta = (self._read_json(sidecar_path) if sidecar_path else None) or {}
        row = image_row(rel, meta, _mtime_ns(sig))
        render = meta.get("renderPath")
        render = render if isinstance(render, str) and render else DEFAULT_RENDER_PATH
        return self._entry_from_row(rel, row, sig, render)

    def _drop_dir(self, folder: str, keep_state: bool = False, depth: int = 0) -> None:
        prefix = folder + "/"
        with self._lock:
            self._apply_locked([r for r in self._entries if not folder or r.startswith(prefix)],
                               [])
            for sub in [d for d in self._dirs if d == folder or (
                    folder and d.startswith(prefix)) or (not folder and d)]:
                del self._dirs[sub]
            if keep_state:
                self._dirs[folder] = _Dir(None, False, depth)

    # --- single-file updates (generation, delete, restore, favourite) -------------------------
    def upsert(self, relative: str) -> None:
        """Re-read one image (and its sidecar) now; drop it if it no longer exists."""
        path = self._abs(relative)
        try:
            img = os.stat(path)
        except OSError:
            self.remove(relative)
            return
        sidecar = None
        side = None
        kind = _SIDE_NONE
        for number, candidate in enumerate(sidecar_candidates(path)):
            try:
                side = os.stat(candidate)
                sidecar = candidate
                kind = _SIDE_FULL if number == 0 else _SIDE_STEM
                break
            except OSError:
                continue
        sig = _sig(_fast_sig(img.st_ino, kind, side.st_ino if side else 0), img, side)
        entry = self._make_entry(relative, sig, sidecar)
        with self._lock:
            self._put_locked(relative, entry)
            self._touch(relative)

    def remove(self, relative: str) -> None:
        with self._lock:
            self._remove_locked(relative)
            self._touch(relative)

    def _touch(self, relative: str) -> None:
        self._seq += 1
        self._touched[relative] = self._seq

    def _settled(self) -> None:
        """After a whole pass (scan lock held): later passes start after every recorded
        update, so the records are no longer needed."""
        with self._lock:
            self._touched.clear()

    def _apply_locked(self, gone: List[str], puts: List[Tuple[str, Fresh]]) -> None:
        """Remove ``gone`` and insert ``puts``; in bulk (filter + one sort) when there are
        many, so building or dropping 100,000 rows stays O(n log n), not O(n²)."""
        if self._changes is not None:
            added, removed = self._changes
            added.extend(rel for rel, _entry in puts
                         if rel not in self._entries and is_image_name(rel))
            removed.extend(rel for rel in gone if rel in self._entries and is_image_name(rel))
        if len(gone) + len(puts) < BULK:
            for rel in gone:
                self._remove_locked(rel)
            for rel, fresh in puts:
                self._put_locked(rel, fresh)
            return
        self.version += 1
        entries = self._entries
        dead: Set[str] = set()
        sessions: Dict[str, List[str]] = {}  # session → its new names
        for rel in gone + [rel for rel, _entry in puts]:
            old = entries.pop(rel, None)
            if old is None:
                continue
            dead.add(rel)
            session = self._session_of(old)
            if session is not None:
                sessions.setdefault(session, [])
            names = self._dir_names.get(_parent(rel))
            if names is not None:
                names.discard(rel)
        before = self._order.names
        order = [rel for rel in before if rel not in dead]
        texts = dict(zip(before, self._texts)) if order else {}
        tagsets = dict(zip(before, self._tagsets)) if order else {}
        for rel, (blob, text, tagset) in puts:
            entries[rel] = blob
            order.append(rel)
            texts[rel] = text
            tagsets[rel] = tagset
            session = self._session_of(blob)
            if session is not None:
                sessions.setdefault(session, []).append(rel)
            if "/" in rel:
                self._dir_names.setdefault(_parent(rel), set()).add(rel)

        def created_of(rel: str) -> int:
            return _CREATED.unpack_from(entries[rel])[0]

        self._order = _Keys.of(order, created_of)
        for session, added in sessions.items():
            known = self._sessions.get(session)
            names = [rel for rel in known.names if rel not in dead] if known else []
            names.extend(added)
            if names:
                self._sessions[session] = _Keys.of(names, created_of)
            else:
                self._sessions.pop(session, None)
        self._texts = list(map(texts.__getitem__, self._order.names))
        self._tagsets = list(map(tagsets.__getitem__, self._order.names))
        del texts, tagsets
        self._cols = self._columns(list(map(_attrs_of, map(entries.__getitem__,
                                                           self._order.names))))

    @staticmethod
    def _columns(attrs: List[int]) -> List[bytearray]:
        """The aligned code columns (and the flag column) of ``attrs`` in the sort order."""
        return [bytearray(map(operator.and_, map(operator.rshift, attrs,
                                                 itertools.repeat(8 * column)),
                              itertools.repeat(255)))
                for column in range(len(COLUMNS) + 1)]

    def _tagsets_of(self, tags: Tuple[str, ...]) -> FrozenSet[str]:
        """The folded tag set of ``tags``, one shared object per distinct combination."""
        if not tags:
            return _NO_TAGS
        found = self._tagset_cache.get(tags)
        if found is None:
            found = frozenset(fold(t) for t in tags)
            if len(self._tagset_cache) < 4096:
                self._tagset_cache[tags] = found
        return found

    def _put_locked(self, rel: str, fresh: Fresh) -> None:
        self._remove_locked(rel)
        self.version += 1
        blob, text, tagset = fresh
        self._entries[rel] = blob
        created = _created_of(blob)
        pos = self._order.insert(created, rel)
        self._texts.insert(pos, text)
        self._tagsets.insert(pos, tagset)
        attrs = _attrs_of(blob)
        for column, col in enumerate(self._cols):
            col.insert(pos, (attrs >> (8 * column)) & 255)
        session = self._session_of(blob)
        if session is not None:
            keys = self._sessions.get(session)
            if keys is None:
                keys = self._sessions[session] = _Keys()
            keys.insert(created, rel)
        if "/" in rel:
            self._dir_names.setdefault(_parent(rel), set()).add(rel)

    def _names_in_locked(self, folder: str) -> List[str]:
        """The indexed files of one folder. The gallery's top folder (most images) has no
        name set of its own: its files are the names without a slash."""
        if not folder:
            return [rel for rel in self._entries if "/" not in rel]
        return list(self._dir_names.get(folder, ()))

    def _remove_locked(self, rel: str) -> None:
        old = self._entries.pop(rel, None)
        if old is None:
            return
        self.version += 1
        created = _created_of(old)
        pos = self._order.remove(created, rel)
        if pos >= 0:
            del self._texts[pos]
            del self._tagsets[pos]
            for col in self._cols:
                del col[pos]
        session = self._session_of(old)
        if session is not None:
            keys = self._sessions.get(session)
            if keys is not None:
                keys.remove(created, rel)
                if not keys:
                    del self._sessions[session]
        names = self._dir_names.get(_parent(rel))
        if names is not None:
            names.discard(rel)

    # --- queries -------------------------------------------------------------------------
    def _column_mask(self, column: int, value: str, lo: int, hi: int) -> bytes:
        code = self._codes[column].get(value)
        segment = bytes(self._cols[column][lo:hi])
        if code is not None:
            return segment.translate(_select(255, code))
        if len(self._values[column]) < _OVERFLOW:
            return bytes(hi - lo)  # a value no image has
        # Past the 254th distinct value: look at the few overflowed rows themselves.
        mask = bytearray(hi - lo)
        name = COLUMNS[column]
        pos = segment.find(_OVERFLOW)
        while pos >= 0:
            row = json.loads(unpack_row(_row_of(self._entries[self._order.names[lo + pos]])))
            found = row.get(name) if name != "renderPath" else (
                row.get(name) or DEFAULT_RENDER_PATH)
            if found == value:
                mask[pos] = 1
            pos = segment.find(_OVERFLOW, pos + 1)
        return bytes(mask)

    def _keys_mask(self, keys: Optional[_Keys], lo: int, hi: int) -> bytes:
        mask = bytearray(hi - lo)
        if keys is None:
            return bytes(mask)
        order = self._order
        created_at, names = order.created, order.names
        find = bisect.bisect_left
        for created, name in zip(keys.created, keys.names):
            pos = find(created_at, created, lo, hi)
            if pos < hi and names[pos] != name:  # createdAt shared with others
                pos = order.left(created, name, pos, hi)
            if pos < hi and names[pos] == name:
                mask[pos - lo] = 1
        return bytes(mask)

    def _mask(self, filters: Dict[str, Any], session_id: Optional[str], lo: int,
              hi: int) -> bytes:
        """One byte per position in ``[lo, hi)``: 1 where every filter matches."""
        masks: List[bytes] = []
        for column, name in enumerate(COLUMNS):
            if filters.get(name) is not None:
                masks.append(self._column_mask(column, filters[name], lo, hi))
        if filters.get("favorite") is not None:
            flags = bytes(self._cols[len(COLUMNS)][lo:hi])
            masks.append(flags.translate(_select(_FAV_BIT, _FAV_BIT if filters["favorite"]
                                                 else 0)))
        if filters.get("tag") is not None:
            masks.append(bytes(map(operator.contains, self._tagsets[lo:hi],
                                   itertools.repeat(fold(filters["tag"])))))
        if session_id is not None:
            masks.append(self._keys_mask(self._sessions.get(session_id), lo, hi))
        if filters.get("q"):
            texts = self._texts[lo:hi]
            for word in filters["q"]:
                masks.append(bytes(map(operator.contains, texts, itertools.repeat(word))))
        if not masks:
            return b"\x01" * (hi - lo)
        if len(masks) == 1:
            return masks[0]
        combined = int.from_bytes(masks[0], "little")
        for mask in masks[1:]:
            combined &= int.from_bytes(mask, "little")
        return combined.to_bytes(hi - lo, "little")

    def page(self, query: Dict[str, Any]) -> Dict[str, Any]:
        """Rows (JSON bytes, in the asked order) and counts for one page.

        ``query``: ``limit``, ``since``, ``before``/``before_filename`` (newest first),
        ``after``/``after_filename`` (oldest first), ``session_id``, ``sort``
        (``newest``/``oldest``) and ``filters`` (``q`` as folded words, ``favorite``,
        ``tag``, ``model``, ``quality``, ``size``, ``renderPath``, ``from``/``to`` ms).
        Unfiltered pages are O(log n + limit); filtered ones a few C-level passes."""
        filters = query.get("filters") or {}
        limit = query["limit"]
        oldest = query.get("sort") == "oldest"
        session_id = query.get("session_id")
        low_ms = None
        if query.get("since") is not None:
            low_ms = query["since"] + 1
        if filters.get("from") is not None:
            low_ms = max(low_ms or 0, filters["from"])
        high_ms = filters.get("to")
        masked = any(filters.get(k) is not None for k in
                     COLUMNS + ("favorite", "tag")) or bool(filters.get("q"))
        with self._lock:
            keys = self._order if session_id is None or masked else \
                self._sessions.get(session_id, _NO_KEYS)
            lo = keys.left(low_ms) if low_ms is not None else 0
            hi = keys.left(high_ms + 1) if high_ms is not None else len(keys)
            hi = max(lo, hi)
            mask = self._mask(filters, session_id, lo, hi) if masked else None
            if oldest:
                start = lo
                if query.get("after") is not None:
                    if query.get("after_filename"):
                        cut = keys.right(query["after"], query["after_filename"])
                    else:
                        cut = keys.left(query["after"] + 1)
                    start = min(hi, max(lo, cut))
                positions = self._walk(mask, lo, start, hi, limit + 1, forward=True)
            else:
                end = hi
                if query.get("before") is not None:
                    cut = keys.left(query["before"], query.get("before_filename") or "")
                    end = max(lo, min(hi, cut))
                positions = self._walk(mask, lo, lo, end, limit + 1, forward=False)
            more = len(positions) > limit
            chosen = [keys.key(p) for p in positions[:limit]]
            blobs = [self._entries[name] for _created, name in chosen]
            rows = [(_row_of(blob), self._session_of(blob), created)
                    for blob, (created, _name) in zip(blobs, chosen)]
            total = len(self._order)
            filtered = mask.count(1) if mask is not None else hi - lo
        cursor = None
        if more and chosen:
            cursor = ({"after": chosen[-1][0], "afterFilename": chosen[-1][1]} if oldest else
                      {"before": chosen[-1][0], "beforeFilename": chosen[-1][1]})
        return {"rows": [(unpack_row(row), session, created) for row, session, created in rows],
                "total": total, "filteredTotal": filtered, "nextCursor": cursor}

    @staticmethod
    def _walk(mask: Optional[bytes], base: int, start: int, end: int, count: int,
              forward: bool) -> List[int]:
        """Up to ``count`` positions in ``[start, end)`` whose mask byte (mask index =
        position - ``base``) is 1, ascending when ``forward``, else descending."""
        if mask is None:
            if forward:
                return list(range(start, min(end, start + count)))
            return list(range(end - 1, max(start, end - count) - 1, -1))
        out: List[int] = []
        lo, hi = start - base, end - base
        while len(out) < count:
            pos = mask.find(1, lo, hi) if forward else mask.rfind(1, lo, hi)
            if pos < 0:
                break
            out.append(pos + base)
            if forward:
                lo = pos + 1
            else:
                hi = pos
        return out

    def row(self, relative: str) -> Optional[Dict[str, Any]]:
        """The current row of one image (None when not indexed)."""
        with self._lock:
            blob = self._entries.get(relative)
            packed = _row_of(blob) if blob is not None else None
        return json.loads(unpack_row(packed)) if packed is not None else None

    def names(self, query: Dict[str, Any], cap: int) -> List[str]:
        """Every name a filtered listing would show (newest first), at most ``cap``."""
        names: List[str] = []
        page_query = dict(query, limit=min(cap, 5000))
        while len(names) < cap:
            page = self.page(page_query)
            names.extend(json.loads(r[0])["filename"] for r in page["rows"])
            cursor = page["nextCursor"]
            if not cursor:
                break
            page_query.update(before=cursor.get("before"),
                              before_filename=cursor.get("beforeFilename"),
                              after=cursor.get("after"), after_filename=cursor.get("afterFilename"))
        return names[:cap]

    def count(self) -> int:
        with self._lock:
            return len(self._order)

    def names_by_size(self) -> Dict[int, List[str]]:
        """Every image name grouped by byte size (one pass; import's duplicate check)."""
        out: Dict[int, List[str]] = {}
        with self._lock:
            for rel, blob in self._entries.items():
                out.setdefault(_size_of(blob), []).append(rel)
        return out

    def names_with_size(self, size: int) -> List[str]:
        with self._lock:
            return [rel for rel, blob in self._entries.items() if _size_of(blob) == size]

    # --- snapshot state ----------------------------------------------------------------------
    def export_state(self) -> Dict[str, Any]:
        """Plain data (lists, str, bytes, int, None) describing the whole index, one list
        per field in the sort order (columns load without a throw-away object per image)."""
        with self._lock:
            entries = self._entries
            rels = list(self._order.names)
            blobs = list(map(entries.__getitem__, rels))
            return {"version": self.version,
                    "dirs": [(folder, state.mtime_ns, state.depth,
                              bool(state.racy or (state.mtime_ns is not None and
                                                  _racy(state.mtime_ns))))
                             for folder, state in self._dirs.items()],
                    "rels": rels,
                    "created": self._order.created.tobytes(),
                    "blobs": blobs,
                    "session_codes": array.array("I", map(_session_code_of, blobs)).tobytes(),
                    "sessions": list(self._session_ids),
                    "tagsets": [tuple(sorted(tags)) if tags else None
                                for tags in self._tagsets],
                    "texts": list(self._texts),
                    "cols": [bytes(col) for col in self._cols],
                    "values": [list(values) for values in self._values]}

    def _adopt_codes(self, saved: List[List[Optional[str]]],
                     sessions: List[Optional[str]]) -> Optional[Tuple[List[bytes], List[int]]]:
        """Register the snapshot's column values and session ids; None when their codes are
        this index's codes (always so for a fresh index), else one ``bytes.translate`` table
        per column and a session code list mapping saved codes to this index's codes."""
        if len(saved) != len(COLUMNS) or not sessions or sessions[0] is not None:
            raise ValueError("snapshot code tables")
        tables: List[bytes] = []
        same = True
        for column, values in enumerate(saved):
            if not values or values[0] is not None or len(values) > _OVERFLOW:
                raise ValueError("snapshot column values")
            table = bytearray(range(256))
            for code, value in enumerate(values[1:], 1):
                table[code] = self._code(column, value)
            same = same and table == bytearray(range(256))
            tables.append(bytes(table))
        session_codes = [0] + [self._session_code(session) for session in sessions[1:]]
        same = same and session_codes == list(range(len(sessions)))
        return None if same else (tables, session_codes)

    def load_state(self, state: Dict[str, Any]) -> None:
        """Replace the index with ``export_state`` data (not yet reconciled: run ``check``).

        Restart time is spent here: every field comes as one list in the sort order, so the
        entries, the sort keys and the aligned columns are built by C-level passes."""
        rels: List[str] = state["rels"]
        blobs: List[bytes] = state["blobs"]
        texts: List[str] = state["texts"]
        saved_tagsets: List[Optional[Tuple[str, ...]]] = state["tagsets"]
        cols = [bytearray(col) for col in state["cols"]]
        codes = array.array("I")
        codes.frombytes(state["session_codes"])
        created = array.array("q")
        created.frombytes(state["created"])
        count = len(rels)
        if not all(len(column) == count for column in (blobs, texts, saved_tagsets, codes,
                                                       created)) \
                or len(cols) != len(COLUMNS) + 1 or any(len(col) != count for col in cols):
            raise ValueError("snapshot fields of different lengths")
        if any(len(blob) < _ROW_AT for blob in blobs) or (count and max(codes) >= len(
                state["sessions"])):
            raise ValueError("snapshot entry damaged")
        remap = self._adopt_codes(state["values"], state["sessions"])
        if remap is not None:  # not a fresh index: re-code the columns and the blobs
            tables, session_codes = remap
            cols = [bytearray(col.translate(table)) for col, table in zip(cols, tables)] + \
                cols[len(COLUMNS):]
            blobs = [self._recode(blob, tables, session_codes) for blob in blobs]
            codes = array.array("I", [session_codes[code] for code in codes])
        order = _Keys(created, rels)
        if not order.ordered():
            raise ValueError("snapshot out of order")
        entries = dict(zip(rels, blobs))
        if len(entries) != count:
            raise ValueError("snapshot names repeated")
        session_names: Dict[int, List[str]] = {}
        for rel, code in itertools.compress(zip(rels, codes), codes):
            names = session_names.get(code)
            if names is None:
                names = session_names[code] = []
            names.append(rel)
        sessions: Dict[str, _Keys] = {}
        for code, names in session_names.items():
            # in the sort order already: the createdAt of each, in one array
            sessions[self._session_ids[code]] = _Keys(array.array("q", map(
                _created_of, map(entries.__getitem__, names))), names)
        dir_names: Dict[str, Set[str]] = {}
        for rel in rels:
            if "/" in rel:
                dir_names.setdefault(rel.rpartition("/")[0], set()).add(rel)
        tagsets = [self._tagsets_of(tags) if tags else _NO_TAGS for tags in saved_tagsets]
        with self._lock:
            self._entries, self._order, self._sessions = entries, order, sessions
            self._dir_names = dir_names
            self._dirs = {folder: _Dir(mtime, racy, depth)
                          for folder, mtime, depth, racy in state["dirs"]}
            self._texts, self._tagsets, self._cols = texts, tagsets, cols
            self.version += 1

    @staticmethod
    def _recode(blob: bytes, tables: List[bytes], session_codes: List[int]) -> bytes:
        attrs = _ATTRS.unpack_from(blob, _SIG_END)[0]
        fresh = attrs & ~((1 << (8 * len(COLUMNS))) - 1)
        for column, table in enumerate(tables):
            fresh |= table[(attrs >> (8 * column)) & 255] << (8 * column)
        return blob[:_SIG_END] + _ATTRS.pack(fresh) + _SESSION.pack(
            session_codes[_session_code_of(blob)]) + blob[_ROW_AT:]
