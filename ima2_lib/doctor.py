"""``ima2 doctor``: what this machine has, where every setting came from, and what to fix.

Owns: the checks (Python floor, installed files, optional features with install commands,
settings with their sources, ports, paths, ``server.json`` state) and their ✓/✗/⚠/ℹ output;
exit 1 when a check failed. Later parts add sections through ``SECTIONS``.
Must not: change anything on disk (``--migrate`` is the explicit exception, copy-only).
"""
from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Tuple

from . import __version__

if TYPE_CHECKING:
    import argparse

    from .config import Config

Check = Tuple[str, str]  # (level, text); level in ok | fail | warn | info
MARKS = {"ok": "✓", "fail": "✗", "warn": "⚠", "info": "ℹ"}  # rendered only by run_doctor


def _settings_lines(config: Config) -> List[Check]:
    from .config import SETTINGS_BY_NAME

    lines: List[Check] = []
    for name, value, source in config.items():
        setting = SETTINGS_BY_NAME[name]
        if setting.secret and value:
            shown = "(set)"
        elif isinstance(value, str) and "\n" in value:
            shown = repr(value[:40] + "...")
        else:
            shown = repr(value) if not isinstance(value, str) else value
        lines.append(("info", "%-28s %s  [%s]" % (name, shown, source)))
    return lines


def _core_checks(config: Config) -> List[Check]:
    from .app import STATIC_ROOT
    from .cli_client import live_server_from_advertisement
    from .deps import Features
    from .store import read_json

    checks: List[Check] = []
    ok_py = sys.version_info >= (3, 9)
    checks.append(("ok" if ok_py else "fail", "Python %s (needs ≥ 3.9)" % sys.version.split()[0]))
    index = os.path.join(STATIC_ROOT, "index.html")
    checks.append(("ok" if os.path.isfile(index) else "fail", "studio files: %s" % index))
    features = Features(config.env)
    for name, ok, detail, what, install in features.table():
        if ok:
            checks.append(("ok", "%s %s — %s" % (name, detail, what)))
        elif features.switched_off(name):
            checks.append(("info", "%s %s — %s not used; to use it: %s" % (name, detail, what,
                                                                         install)))
        else:
            checks.append(("warn", "%s missing (%s) — %s; install: %s" % (name, detail, what,
                                                                       install)))
    if config.config_file:
        checks.append(("ok", "config file: %s" % config.config_file))
    else:
        checks.append(("info", "config file: none (defaults; %s)" % config.config_json_path))
    for warning in config.warnings:
        checks.append(("warn", warning))
    # Images are always made through the OAuth proxy; `setup` only records a choice (and an
    # API key for billing / style sheets), so an unset provider is not a problem.
    provider = (config.file_data or {}).get("provider")
    checks.append(("ok" if provider else "info", "provider: %s" % (
        provider or "not set — images use the OAuth proxy anyway (`setup --api-key` adds a "
                    "key for billing and style sheets)")))
    checks.append(("info", "backend port %d (%s), host %s" % (config.port, config.source("port"),
                                                          config.host)))
    if config.provider == "offline":
        checks.append(("info", "image provider: offline (%s) — deterministic local pictures, no "
                            "proxy is started" % config.source("provider")))
    elif config.oauth_auto_start:
        npx = shutil.which("npx")
        checks.append(("info" if npx else "warn", "OAuth proxy auto-start on port %d: %s" % (
            config.oauth_proxy_port, "npx found" if npx else
            "npx not found — install Node.js or set IMA2_OAUTH_URL / IMA2_NO_OAUTH_PROXY=1")))
    else:
        checks.append(("info", "OAuth proxy (external): %s" % config.oauth_base_url))
    for label, path in (("state folder", config.config_dir),
                        ("generated", config.generated_dir), ("trash", config.trash_dir)):
        checks.append(("info", "%s: %s" % (label, path)))
    advert = read_json(config.advertise_file, default=None, warn=lambda _m: None)
    if not isinstance(advert, dict):
        checks.append(("info", "server.json: none (no server running)"))
    else:
        live = live_server_from_advertisement(config.advertise_file)
        if live:
            oauth = advert.get("oauth") if isinstance(advert.get("oauth"), dict) else {}
            checks.append(("ok", "server running at %s (pid %d); OAuth %s %s" % (
                live["url"], live["pid"], oauth.get("url"), oauth.get("status"))))
        else:
            checks.append(("info", "server.json is stale (pid %s not serving)" % advert.get("pid")))
    return checks


def _oauth_lines(config: Config) -> List[Check]:
    """Codex login files (non-secret facts only) and a live probe of the proxy's models."""
    return _auth_file_lines(config) + _proxy_lines(config) + _proxy_setting_lines(config)


def _auth_file_lines(config: Config) -> List[Check]:
    from . import codex

    lines: List[Check] = []
    for path in codex.auth_candidates(config.env).values():
        info = codex.describe_auth_file(path)
        if not info["exists"]:
            continue
        if not info.get("readable"):
            lines.append(("warn", "Codex auth file %s is not a readable JSON object" % path))
        elif info.get("expired"):
            lines.append(("warn", "Codex auth file %s: access token expired (the proxy "
                                  "refreshes it; if requests fail run `npx openai-oauth login`)"
                          % path))
        else:
            lines.append(("ok" if info.get("hasAccessToken") else "warn",
                          "Codex auth file %s: access token %s, refresh token %s" % (
                              path, "present" if info.get("hasAccessToken") else "missing",
                              "present" if info.get("hasRefreshToken") else "missing")))
    if not lines:
        lines.append(("warn", "not logged in: no ChatGPT login file (~/.codex/auth.json); "
                              "sign in with `npx openai-oauth login`"))
    return lines


def _proxy_target(config: Config) -> Tuple[str, Dict[str, Any]]:
    """The proxy URL to probe (the running server's, when one advertises it) and the OAuth
    state that server advertises ({} without one)."""
    from .cli_client import live_server_from_advertisement
    from .store import read_json

    url = config.oauth_base_url
    if not live_server_from_advertisement(config.advertise_file):
        return url, {}
    advert = read_json(config.advertise_file, default={}, warn=lambda _m: None) or {}
    if not isinstance(advert, dict) or not isinstance(advert.get("oauth"), dict):
        return url, {}
    return advert["oauth"].get("url") or url, advert["oauth"]


def _proxy_lines(config: Config) -> List[Check]:
    from .deps import Features, make_ssl_context
    from .services.oauth import _probe_state as probe_state
    from .services.oauth import probe

    url, advertised = _proxy_target(config)
    context = (make_ssl_context(Features(config.env), config.ca_bundle)
               if url.startswith("https:") else None)
    status, data = probe(url, "/v1/models", min(3.0, config.oauth_status_timeout_ms / 1000.0),
                         context)
    state, message = probe_state(status, data)
    if state == "offline" and advertised.get("status") in ("login_required", "network_failed"):
        state, message = advertised["status"], advertised.get("reason")
    why = " (the proxy says: %s)" % message if message else ""
    if state == "offline":
        return [("info", "OAuth proxy not running at %s%s (`python3 ima2.py serve` starts it; "
                         "IMA2_OAUTH_URL points elsewhere)"
                 % (url, " (ima2 says: %s)" % advertised["reason"]
                    if advertised.get("reason") else ""))]
    if state in ("login_required", "auth_required"):
        return [("warn", "not logged in to ChatGPT%s: run `npx openai-oauth login`" % why)]
    if state == "network_failed":
        return [("warn", "network failed: the proxy cannot reach ChatGPT%s" % why)]
    return _ready_lines(config, url, data)


def _ready_lines(config: Config, url: str, data: Any) -> List[Check]:
    from .services.oauth import default_model_warnings

    models = [m.get("id") for m in (data or {}).get("data", []) if isinstance(m, dict)] \
        if isinstance(data, dict) else []
    lines: List[Check] = [("ok", "OAuth proxy at %s is ready (%d models: %s)"
                           % (url, len(models), ", ".join(str(m) for m in models)))]
    lines.extend(("warn", warning["message"]) for warning in
                 default_model_warnings(config, models))
    return lines


def _proxy_setting_lines(config: Config) -> List[Check]:
    lines: List[Check] = []
    if any(config.env.get(k) for k in ("HTTPS_PROXY", "https_proxy")) \
            and config.env.get("NODE_USE_ENV_PROXY") != "1":
        lines.append(("info", "HTTPS_PROXY is set: Node's fetch (used by openai-oauth) ignores "
                              "it unless NODE_USE_ENV_PROXY=1 is set too (export it before "
                              "`python3 ima2.py serve`)"))
    lines.append(("info", "render path %s (IMA2_IMAGE_PATH), Images API model %s, proxy "
                          "package %s" % (config.image_path, config.images_model,
                                          config.oauth_package)))
    return lines


def _sessions_lines(config: Config) -> List[Check]:
    from .services.sessions_import import doctor_lines

    return doctor_lines(config)


def _storage_lines(config: Config) -> List[Check]:
    from .services.storage import doctor_lines

    return doctor_lines(config)


def run_migrate(config: Config, out: Callable[[str], None]) -> int:
    """``doctor --migrate``: copy-only import of old ima2-gen galleries (services/storage),
    printed as it goes."""
    from .services.storage import migrate

    out("Copying images from old ima2-gen folders into %s" % config.generated_dir)
    out("(copy only: existing files are kept, nothing is deleted)")
    result = migrate(config, lambda rel, why: out("  %s %s: %s" % (MARKS["warn"], rel, why)))
    out("copied %(copied)d file(s), kept %(skippedExisting)d existing, %(sourcesScanned)d "
        "folder(s) scanned, %(sourcesSkipped)d skipped (the gallery itself)" % result)
    if result["errors"]:
        out("%d file(s) could not be copied (see above)" % result["errors"])
        return 1
    return 0


SECTIONS: List[Tuple[str, Callable[[Config], List[Check]]]] = [
    ("Checks", _core_checks),
    ("Settings", _settings_lines),
    ("OAuth", _oauth_lines),
    ("Storage", _storage_lines),
    ("Sessions", _sessions_lines),
]


def _write_openapi(path: str, out: Callable[[str], None], err: Callable[[str], None]) -> int:
    import json

    from .openapi import build
    from .store import atomic_write

    text = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return 0
    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        err("✗ cannot write %s: %s" % (path, exc.strerror or exc))
        return 1
    out("✓ OpenAPI document written to %s" % path)
    return 0


def run_doctor(opts: argparse.Namespace, out: Callable[[str], None], err: Callable[[str], None]) -> int:
    """``doctor`` with its parsed options (``cli_args``: routes, config_dir, migrate,
    openapi)."""
    from .config import ConfigError, load_config

    if opts.openapi:
        return _write_openapi(opts.openapi, out, err)
    if opts.routes:
        from .routes import all_routes

        for row in all_routes():  # ``{file:path}`` shown as ``{file}``, as in README.md
            out("%-7s %s" % (row[0], row[1].replace(":path}", "}")))
        return 0
    try:
        config = load_config(flags={"config_dir": opts.config_dir})
    except ConfigError as exc:
        err("✗ configuration: %s" % exc)
        return 1
    if opts.migrate:
        migrate = getattr(sys.modules[__name__], "run_migrate", None)
        if migrate is None:
            err("Migration is not available in this build.")
            return 1
        return migrate(config, out)
    out("ima2 v%s — Doctor" % __version__)
    passed = failed = 0
    for title, section in SECTIONS:
        out("")
        out(title)
        for level, text in section(config):
            out("  %s %s" % (MARKS[level], text))
            if level == "ok":
                passed += 1
            elif level == "fail":
                failed += 1
    out("")
    out("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0
