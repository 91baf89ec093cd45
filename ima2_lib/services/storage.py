"""Storage: gallery status, ima2-gen's old install folders, opening the folder, migration.

Owns: ``GET /api/storage/status`` data (docs/API.md §6.5: label, image count, legacy candidates
scanned/found, state), the legacy candidate list of §12.1 adapted for Python (the Node-install
folders where ima2-gen kept ``generated/``, computed from HOME and the same environment
variables, ``IMA2_TEST_HOME`` / ``IMA2_TEST_EXEC_PATH`` included; the running Node version is
unknown here, so version folders are expanded with one-level wildcards), the folder opener of
§12.3 (``open`` / ``explorer`` / ``xdg-open`` found on the server's PATH and started with an
argument list, never a shell string), the doctor "Storage" lines (§12.4) and the copy-only
migration behind ``ima2 doctor --migrate`` (never overwrites, never deletes, keeps mtimes so
sidecar-less images keep their dates, skips dot-entries such as ``.trash``).
Must not: expose legacy paths over HTTP, or delete / overwrite anything.
"""
from __future__ import annotations

import errno
import os
import shutil
import sys
import threading
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

from ..errors import InternalError
from .gallery import THUMBS_DIR, is_image_name

PKG = "ima2-gen"
RECOVERY_DOC = "docs/RECOVER_OLD_IMAGES.md"
DOCTOR_COMMAND = "python3 ima2.py doctor --migrate"
_TAIL = ("node_modules", PKG, "generated")


def _home(env: Mapping[str, str]) -> str:
    return env.get("IMA2_TEST_HOME") or env.get("HOME") or os.path.expanduser("~")


def _subdirs(base: str) -> List[str]:
    try:
        return sorted(e.path for e in os.scandir(base) if e.is_dir())
    except OSError:
        return []


def legacy_candidates(env: Mapping[str, str]) -> List[str]:
    """Folders where an ima2-gen install may have kept its gallery (order of §12.1)."""
    home = _home(env)
    appdata = env.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
    local = env.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
    nvm_home = env.get("NVM_HOME") or os.path.join(appdata, "nvm")
    node = env.get("IMA2_TEST_EXEC_PATH") or shutil.which("node", path=env.get("PATH"))
    node = os.path.abspath(node) if node else None
    found: List[str] = [
        os.path.join(appdata, "npm", *_TAIL),
        os.path.join(home, ".npm-global", "lib", *_TAIL),
        os.path.join(home, ".volta", "tools", "image", "packages", PKG, "lib", *_TAIL),
        os.path.join(home, ".bun", "install", "global", *_TAIL),
        os.path.join(home, ".config", "yarn", "global", *_TAIL),
        os.path.join(local, "Yarn", "Data", "global", *_TAIL),
        os.path.join(local, "Volta", "tools", "image", "packages", PKG, "lib", *_TAIL),
    ]
    prefixes: List[Optional[str]] = [env.get("npm_config_prefix")]
    if node:
        found.append(os.path.join(os.path.dirname(node), *_TAIL))
        prefixes.append(os.path.dirname(os.path.dirname(node)))
        if "/Cellar/node" in node:
            prefixes.append(node.split("/Cellar/node", 1)[0])
    prefixes.extend(["/opt/homebrew", "/usr/local"])
    for prefix in prefixes:
        if prefix:
            found.append(os.path.join(prefix, "lib", *_TAIL))
            found.append(os.path.join(prefix, *_TAIL))
    xdg_data = env.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    wildcards: List[Tuple[str, Tuple[str, ...]]] = [
        (os.path.join(home, ".nvm", "versions", "node"), ("lib",) + _TAIL),
        (os.path.join(home, ".fnm", "node-versions"), ("installation", "lib") + _TAIL),
        (os.path.join(home, ".asdf", "installs", "nodejs"), ("lib",) + _TAIL),
        (os.path.join(home, ".local", "share", "mise", "installs", "node"), ("lib",) + _TAIL),
        (os.path.join(home, "Library", "pnpm", "global"), _TAIL),
        (os.path.join(xdg_data, "pnpm", "global"), _TAIL),
        (os.path.join(local, "pnpm", "global"), _TAIL),
        (os.path.join(env.get("npm_config_cache") or os.path.join(home, ".npm"), "_npx"), _TAIL),
        (os.path.join(local, "npm-cache", "_npx"), _TAIL),
        (os.path.join(appdata, "npm-cache", "_npx"), _TAIL),
        (nvm_home, _TAIL),
    ]
    if env.get("PNPM_HOME"):
        wildcards.append((os.path.join(env["PNPM_HOME"], "global"), _TAIL))
    for base, tail in wildcards:
        for sub in _subdirs(base):
            found.append(os.path.join(sub, *tail))
    unique: List[str] = []
    for path in found:
        path = os.path.abspath(path)
        if path not in unique:
            unique.append(path)
    return unique


def _walk_files(root: str) -> Iterator[Tuple[str, str]]:
    """(absolute path, relative path) of regular files under ``root``, dot-entries skipped."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = list(os.scandir(os.path.join(root, rel_dir) if rel_dir else root))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name == THUMBS_DIR or entry.is_symlink():
                continue
            rel = os.path.join(rel_dir, entry.name) if rel_dir else entry.name
            if entry.is_dir(follow_symlinks=False):
                stack.append(rel)
            elif entry.is_file(follow_symlinks=False):
                yield entry.path, rel


def count_images(root: str) -> int:
    return sum(1 for _path, rel in _walk_files(root) if is_image_name(rel))


def _related(a: str, b: str) -> bool:
    """True when the folders are equal or one contains the other."""
    a, b = os.path.realpath(a), os.path.realpath(b)
    return a == b or a.startswith(b + os.sep) or b.startswith(a + os.sep)


def legacy_sources(config: Any) -> Tuple[int, List[Tuple[str, int]]]:
    """(candidates scanned, [(folder, image count)] of those that hold images)."""
    candidates = legacy_candidates(config.env)
    sources = []
    for path in candidates:
        if not os.path.isdir(path) or _related(path, config.generated_dir):
            continue
        count = count_images(path)
        if count:
            sources.append((path, count))
    return len(candidates), sources


def label(path: str, env: Mapping[str, str]) -> str:
    home = os.path.abspath(_home(env))
    path = os.path.abspath(path)
    if path == home:
        return "~"
    if path.startswith(home + os.sep):
        return "~" + os.sep + path[len(home) + 1:]
    return path


def status(config: Any) -> Dict[str, Any]:
    """The ``data`` of ``GET /api/storage/status``; never raises (state ``unknown``)."""
    data: Dict[str, Any] = {
        "generatedDirLabel": label(config.generated_dir, config.env), "generatedCount": 0,
        "legacyCandidatesScanned": 0, "legacySourcesFound": 0, "legacyFilesFound": 0,
        "state": "unknown", "messageKind": "unknown", "recoveryDocsPath": RECOVERY_DOC,
        "doctorCommand": DOCTOR_COMMAND,
        "overrides": {"generatedDir": config.source("generated_dir") != "default",
                      "configDir": config.source("config_dir") != "default"}}
    try:
        data["generatedCount"] = count_images(config.generated_dir)
        scanned, sources = legacy_sources(config)
        data["legacyCandidatesScanned"] = scanned
        data["legacySourcesFound"] = len(sources)
        data["legacyFilesFound"] = sum(n for _p, n in sources)
        state = "ok" if data["generatedCount"] else (
            "recoverable" if data["legacyFilesFound"] else "not_found")
    except Exception:  # noqa: BLE001 - a status page must answer
        state = "unknown"
    data["state"] = state
    data["messageKind"] = "apology" if state == "not_found" else state
    return data


def opener_command(platform: str = sys.platform) -> str:
    if platform == "darwin":
        return "open"
    if platform.startswith("win"):
        return "explorer"
    return "xdg-open"


def open_folder(path: str, env: Mapping[str, str], wait: float = 0.25) -> Dict[str, Any]:
    """Start the desktop's folder opener on ``path`` (§12.3); never through a shell."""
    import subprocess  # on use: ~2 ms of every start otherwise (issue 19)

    command = opener_command()
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        return {"ok": False, "error": "Could not create the generated image folder (%s)"
                % (exc.strerror or type(exc).__name__)}
    exe = shutil.which(command, path=env.get("PATH"))
    if exe is None:
        return {"ok": False, "error": "%s was not found on PATH" % command}
    kwargs: Dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL,
                              "stderr": subprocess.DEVNULL, "env": dict(env),
                              "close_fds": True}
    if os.name == "posix":
        kwargs["start_new_session"] = True
    try:
        proc = subprocess.Popen([exe, path], **kwargs)
    except OSError as exc:
        return {"ok": False, "error": "%s could not start (%s)" % (command, exc.strerror)}
    try:
        code = proc.wait(wait)
    except subprocess.TimeoutExpired:
        threading.Thread(target=proc.wait, name="ima2-opener-reaper", daemon=True).start()
        return {"ok": True}
    if code == 0 or command == "explorer":  # explorer exits 1 on success
        return {"ok": True}
    return {"ok": False, "error": "%s exited with code %d" % (command, code)}


def open_generated_dir(config: Any) -> Dict[str, Any]:
    result = open_folder(config.generated_dir, config.env)
    if not result["ok"]:
        raise InternalError("OPEN_GENERATED_DIR_FAILED",
                            result.get("error") or "Could not open generated image folder.", ok=False)
    return {"ok": True}


# --- migration (doctor --migrate) ---------------------------------------------------------
def _copy_no_clobber(src: str, dst: str) -> bool:
    """Copy ``src`` to ``dst`` atomically unless ``dst`` exists; True if copied."""
    if os.path.lexists(dst):
        return False
    tmp = os.path.join(os.path.dirname(dst), ".%s.migrating" % os.path.basename(dst)[:60])
    shutil.copy2(src, tmp)
    try:
        try:
            os.link(tmp, dst)  # fails if dst appeared meanwhile: never overwrite
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                                 errno.EMLINK):
                raise
            if os.path.lexists(dst):
                return False
            os.replace(tmp, dst)
            return True
        return True
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def migrate(config: Any,
            on_error: Callable[[str, str], None] = lambda _rel, _why: None) -> Dict[str, int]:
    """Copy every legacy source into the gallery; idempotent; first source wins.
    ``on_error(relative path, reason)`` hears of each file that could not be copied."""
    result = {"copied": 0, "skippedExisting": 0, "sourcesScanned": 0, "sourcesSkipped": 0,
              "errors": 0}
    target = config.generated_dir
    os.makedirs(target, exist_ok=True)
    for source in legacy_candidates(config.env):
        if _related(source, target):
            result["sourcesSkipped"] += 1
            continue
        if not os.path.isdir(source):
            continue
        result["sourcesScanned"] += 1
        for path, rel in _walk_files(source):
            dst = os.path.join(target, rel)
            try:
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                if _copy_no_clobber(path, dst):
                    result["copied"] += 1
                else:
                    result["skippedExisting"] += 1
            except OSError as exc:
                result["errors"] += 1
                on_error(rel, exc.strerror or type(exc).__name__)
    return result


def doctor_lines(config: Any) -> List[Tuple[str, str]]:
    """The "Storage" section of ``ima2 doctor`` (§12.4) as (level, text) pairs; level is
    ok | info | warn | fail (``doctor`` renders the marks)."""
    lines: List[Tuple[str, str]] = []
    source = config.source("generated_dir")
    lines.append(("info", "gallery: %s (%s)" % (label(config.generated_dir, config.env),
                                             "default" if source == "default" else source)))
    count = count_images(config.generated_dir)
    lines.append(("ok" if count else "info", "%d image(s) in the gallery" % count))
    scanned, sources = legacy_sources(config)
    files = sum(n for _p, n in sources)
    lines.append(("info", "old ima2-gen folders: %d checked, %d with images (%d images)"
                  % (scanned, len(sources), files)))
    for path, n in sources[:5]:
        lines.append(("info", "  %s — %d image(s)" % (path, n)))
    if len(sources) > 5:
        lines.append(("info", "  ...and %d more" % (len(sources) - 5)))
    if files and not count:
        lines.append(("warn", "Next step: copy the old images in with `%s` (copies, never "
                           "overwrites or deletes); see %s" % (DOCTOR_COMMAND, RECOVERY_DOC)))
    elif files:
        lines.append(("info", "More old images may be copied with `%s` (existing files are kept)"
                      % DOCTOR_COMMAND))
    elif not count:
        lines.append(("info", "No images yet, and no old ima2-gen gallery was found (%s)"
                      % RECOVERY_DOC))
    if sources:
        lines.append(("info", "manual copy (POSIX): cp -Rn '%s/.' '%s/'"
                      % (sources[0][0], config.generated_dir)))
        lines.append(("info", 'manual copy (Windows): robocopy "%s" "%s" /E /XC /XN /XO'
                      % (sources[0][0], config.generated_dir)))
    return lines
