"""Configuration: one SETTINGS table, layered default < config.json < env < CLI flag.

Owns: the list of every setting (the original's env variables and ``config.json`` keys, plus
ima2's own), parsing of their values (JS ``Number()``-like numbers, ``50mb`` sizes, ``1y``
durations, truthy strings) and the *source* of each value, which ``doctor`` prints.
Must not: read anything but the environment mapping and config.json files it is given, or
hold state outside the returned ``Config`` (loading twice with the same inputs is identical).
"""
from __future__ import annotations

import json
import math
import os
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The seed's model names: always accepted (old clients keep working) besides whatever the
# proxy's /v1/models lists (docs/RENDER_PATHS.md).
SEED_IMAGE_MODELS = ("gpt-5.5", "gpt-5.4", "gpt-5.4-mini")
UNSUPPORTED_IMAGE_MODELS = ("gpt-5.3-codex-spark",)
IMAGE_PATHS = ("auto", "responses", "images")
PROVIDERS = ("oauth", "offline")
LOG_LEVELS = ("debug", "info", "warn", "error", "silent")

RESEARCH_SUFFIX = (
    "\n\nIf the request depends on factual accuracy (real people, products, places, recent "
    "events), look up accurate visual references on the web first, then generate the image."
)


class Setting:
    """One configurable value: where it may come from and how it is parsed."""

    __slots__ = ("name", "kind", "default", "env", "json", "flag", "help", "secret")

    def __init__(
        self,
        name: str,
        kind: str,
        default: Any,
        env: Sequence[str] = (),
        json_paths: Sequence[str] = (),
        flag: Optional[str] = None,
        help: str = "",
        secret: bool = False,
    ) -> None:
        self.name = name
        self.kind = kind  # int|str|bool|size|duration|list|moderation|imagepath|provider
        self.default = default  # a value, or a callable(values) for derived defaults
        self.env = tuple(env)
        self.json = tuple(json_paths)
        self.flag = flag
        self.help = help
        self.secret = secret


def _d(fn: Callable[[Dict[str, Any]], Any]) -> Callable[[Dict[str, Any]], Any]:
    return fn


SETTINGS: List[Setting] = [
    # --- state folder first: every path default derives from it ---------------------------
    Setting("config_dir", "path", _d(lambda v: os.path.join(v["_home"], ".ima2")),
            ["IMA2_CONFIG_DIR"], [], "--config-dir", "state folder (all of ima2's files)"),
    Setting("dev", "bool", False, ["IMA2_DEV"], [], "--dev", "developer defaults (debug log)"),
    # --- server -------------------------------------------------------------------------
    Setting("port", "int", 3333, ["IMA2_PORT", "PORT"], ["server.port"], "--port",
            "HTTP port; busy → the next free of port+1..port+20"),
    Setting("host", "str", "127.0.0.1", ["IMA2_HOST"], ["server.host"], "--host",
            "bind address; beyond loopback a token is required"),
    Setting("body_limit", "size", "50mb", ["IMA2_BODY_LIMIT"], ["server.bodyLimit"], None,
            "largest JSON request body (413 PAYLOAD_TOO_LARGE above)"),
    Setting("allowed_hosts", "list", [], ["IMA2_ALLOWED_HOSTS"], ["server.allowedHosts"], None,
            "extra Host names accepted besides loopback (comma-separated)"),
    Setting("allowed_origins", "list", [], ["IMA2_ALLOWED_ORIGINS"], ["server.allowedOrigins"],
            None, "exact origins (scheme://host:port) allowed to write through a proxy that "
            "rewrites Host (comma-separated)"),
    Setting("max_connections", "int", 256, ["IMA2_MAX_CONNECTIONS"], ["server.maxConnections"],
            None, "most open connections; beyond it 503 TOO_MANY_CONNECTIONS"),
    Setting("body_timeout_ms", "int", 10000, ["IMA2_BODY_TIMEOUT_MS"], ["server.bodyTimeoutMs"],
            None, "a request body may stall this long; after it it must arrive at "
            "IMA2_BODY_MIN_RATE (408 REQUEST_TIMEOUT)"),
    Setting("body_min_rate", "size", "64kb", ["IMA2_BODY_MIN_RATE"], ["server.bodyMinRate"],
            None, "slowest accepted request body, bytes per second"),
    Setting("token", "str", None, ["IMA2_TOKEN"], ["server.token"], None,
            "access token; generated and stored when binding beyond loopback", secret=True),
    # --- limits -------------------------------------------------------------------------
    Setting("max_ref_b64_bytes", "int", 7340032, ["IMA2_MAX_REF_B64_BYTES"],
            ["limits.maxRefB64Bytes"], None, "largest reference image (base64 characters)"),
    Setting("max_ref_count", "int", 5, ["IMA2_MAX_REF_COUNT"], ["limits.maxRefCount"], None,
            "most reference images per request"),
    Setting("max_parallel", "int", 8, ["IMA2_MAX_PARALLEL"], ["limits.maxParallel"], None,
            "most upstream calls one request runs at once (n is still capped at 8)"),
    Setting("max_concurrent_jobs", "int", 2, ["IMA2_MAX_CONCURRENT_JOBS"],
            ["jobs.maxConcurrent"], None, "most generation jobs running at once (the rest wait "
            "in the queue)"),
    Setting("callback_hosts", "list", [], ["IMA2_CALLBACK_HOSTS"], ["jobs.callbackHosts"], None,
            "hosts job callbacks may reach besides loopback"),
    Setting("job_deadline_ms", "int", 0, ["IMA2_JOB_DEADLINE_MS"], ["jobs.deadlineMs"], None,
            "longest a job may run, upstream retries included (0 = no deadline)"),
    Setting("graph_max_nodes", "int", 500, ["IMA2_GRAPH_MAX_NODES"], ["limits.graphMaxNodes"],
            None, "most nodes in one saved graph"),
    Setting("graph_max_edges", "int", 1000, ["IMA2_GRAPH_MAX_EDGES"], ["limits.graphMaxEdges"],
            None, "most edges in one saved graph"),
    Setting("history_page_size", "int", 50, ["IMA2_HISTORY_PAGE_SIZE"],
            ["history.defaultPageSize", "limits.historyDefaultPageSize"], None,
            "default /api/history page"),
    Setting("history_max_page", "int", 500, ["IMA2_HISTORY_MAX_PAGE"],
            ["history.maxPageCap", "limits.historyMaxPageCap"], None, "largest /api/history page"),
    Setting("history_snapshot_min", "int", 2000, ["IMA2_HISTORY_SNAPSHOT_MIN"],
            ["history.snapshotMinImages"], None,
            "smallest gallery whose index is snapshotted for fast restarts (0 = never)"),
    Setting("bulk_max", "int", 1000, ["IMA2_BULK_MAX"], ["history.bulkMax"], None,
            "most images one bulk action (or export selection by names) may name"),
    Setting("import_max_bytes", "size", "2gb", ["IMA2_IMPORT_MAX_BYTES"],
            ["history.importMaxBytes"], None, "largest import bundle, and the most its files may expand to"),
    Setting("import_max_files", "int", 100000, ["IMA2_IMPORT_MAX_FILES"],
            ["history.importMaxFiles"], None, "most entries in one import bundle"),
    # --- OAuth proxy / upstream ---------------------------------------------------------
    Setting("oauth_proxy_port", "int", 10531, ["IMA2_OAUTH_PROXY_PORT", "OAUTH_PORT"],
            ["oauth.proxyPort"], None, "port of the openai-oauth proxy"),
    Setting("no_oauth_proxy", "bool", False, ["IMA2_NO_OAUTH_PROXY"], ["oauth.disableAutoStart"],
            "--no-oauth-proxy", "do not start `npx openai-oauth` (use a running proxy)"),
    Setting("oauth_url", "str", None, ["IMA2_OAUTH_URL"], ["oauth.url"], None,
            "base URL of an external OpenAI-compatible Responses endpoint (skips spawning)"),
    Setting("provider", "provider", "oauth", ["IMA2_PROVIDER"], [], "--offline",
            "image provider: oauth (the proxy) or offline (deterministic local pictures)"),
    Setting("offline_step_ms", "int", 250, ["IMA2_OFFLINE_STEP_MS"], [], None,
            "offline provider: pause between stream events (phases, partials)"),
    Setting("oauth_status_timeout_ms", "int", 3000, ["IMA2_OAUTH_STATUS_TIMEOUT_MS"],
            ["oauth.statusTimeoutMs"], None, "proxy readiness wait and /v1/models timeout"),
    Setting("oauth_restart_delay_ms", "int", 5000, ["IMA2_OAUTH_RESTART_DELAY_MS"],
            ["oauth.restartDelayMs"], None, "first restart delay of the proxy (then backoff)"),
    Setting("oauth_package", "str", "openai-oauth@2.0.0", ["IMA2_OAUTH_PACKAGE"],
            ["oauth.package"], None, "what `npx` runs as the proxy (pinned version)"),
    Setting("oauth_args", "str", "", ["IMA2_OAUTH_ARGS"], ["oauth.args"], None,
            "extra proxy arguments (e.g. --oauth-file, --models, --base-url, --codex-version)"),
    Setting("image_path", "imagepath", "auto", ["IMA2_IMAGE_PATH"], ["upstream.imagePath"], None,
            "render path: auto (hosted tool, falling back to the Images API), responses, images"),
    Setting("images_model", "str", "gpt-image-2", ["IMA2_IMAGE_API_MODEL"],
            ["upstream.imageApiModel"], None, "image model of the Images API path"),
    Setting("research_suffix", "str", RESEARCH_SUFFIX, ["IMA2_RESEARCH_SUFFIX"],
            ["oauth.researchSuffix"], None, "text appended to auto-mode prompts"),
    Setting("valid_moderation", "moderation", ["auto", "low"], [], ["oauth.validModeration"],
            None, "accepted moderation values"),
    Setting("upstream_connect_timeout_ms", "int", 10000, ["IMA2_UPSTREAM_CONNECT_TIMEOUT_MS"],
            ["upstream.connectTimeoutMs"], None, "connect timeout to the proxy"),
    Setting("upstream_idle_timeout_ms", "int", 180000, ["IMA2_UPSTREAM_IDLE_TIMEOUT_MS"],
            ["upstream.idleTimeoutMs"], None, "no byte from the proxy this long → UPSTREAM_TIMEOUT"),
    Setting("upstream_total_timeout_ms", "int", 600000, ["IMA2_UPSTREAM_TOTAL_TIMEOUT_MS"],
            ["upstream.totalTimeoutMs"], None,
            "longest one upstream attempt may take, however steadily bytes arrive"),
    Setting("max_upstream_image_bytes", "size", "50mb", ["IMA2_MAX_UPSTREAM_IMAGE_BYTES"],
            ["upstream.maxImageBytes"], None,
            "largest image accepted from the proxy (502 UPSTREAM_TOO_LARGE above)"),
    Setting("openai_base_url", "str", "https://api.openai.com", ["IMA2_OPENAI_BASE_URL"],
            ["openai.baseUrl"], None, "OpenAI API base (billing, style-sheet extraction)"),
    Setting("ca_bundle", "path", None, ["IMA2_CA_BUNDLE"], ["tls.caBundle"], None,
            "extra CA bundle for HTTPS (corporate CAs); TLS is always verified"),
    Setting("api_key", "str", None, ["OPENAI_API_KEY"], ["apiKey"], None,
            "OpenAI API key (billing and style-sheet extraction only)", secret=True),
    # --- storage ------------------------------------------------------------------------
    Setting("generated_dir", "path", _d(lambda v: os.path.join(v["config_dir"], "generated")),
            ["IMA2_GENERATED_DIR"], ["storage.generatedDir"], None, "image gallery folder"),
    Setting("trash_dir_name", "str", ".trash", ["IMA2_TRASH_DIRNAME"], ["storage.trashDirName"],
            None, "trash folder name inside the gallery"),
    Setting("trash_dir", "path",
            _d(lambda v: os.path.join(v["generated_dir"], v["trash_dir_name"])),
            ["IMA2_TRASH_DIR"], ["storage.trashDir"], None,
            "trash folder (follows a custom gallery folder)"),
    Setting("generated_dir_name", "str", "generated", ["IMA2_GENERATED_DIRNAME"],
            ["storage.generatedDirName"], None, "accepted for compatibility (unused)"),
    Setting("db_path", "path", _d(lambda v: os.path.join(v["config_dir"], "sessions.db")),
            ["IMA2_DB_PATH"], ["storage.dbPath"], None, "ima2-gen sessions.db imported once"),
    Setting("advertise_file", "path", _d(lambda v: os.path.join(v["config_dir"], "server.json")),
            ["IMA2_ADVERTISE_FILE"], ["storage.advertiseFile"], None, "server advertisement"),
    Setting("static_max_age", "duration", "1y", ["IMA2_STATIC_MAX_AGE"],
            ["storage.staticMaxAge"], None, "cache lifetime of /generated files"),
    Setting("fsync", "bool", True, ["IMA2_FSYNC"], ["storage.fsync"], None,
            "fsync atomic writes (turn off only for tests)"),
    # --- ids, in-flight, trash ----------------------------------------------------------
    Setting("generated_hex_bytes", "int", 4, ["IMA2_GENERATED_HEX_BYTES"],
            ["ids.generatedHexBytes"], None, "random bytes in generated file names"),
    Setting("node_hex_bytes", "int", 5, ["IMA2_NODE_HEX_BYTES"], ["ids.nodeHexBytes"], None,
            "random bytes in node ids"),
    Setting("inflight_ttl_ms", "int", 600000, ["IMA2_INFLIGHT_TTL_MS"], ["inflight.ttlMs"], None,
            "in-flight record lifetime"),
    Setting("inflight_reap_ms", "int", 60000, ["IMA2_INFLIGHT_REAP_MS"], ["inflight.reapMs"],
            None, "in-flight reaper period"),
    Setting("inflight_terminal_ttl_ms", "int", 30000, ["IMA2_INFLIGHT_TERMINAL_TTL_MS"],
            ["inflight.terminalTtlMs"], None, "how long finished jobs stay listed"),
    Setting("trash_ttl_ms", "int", 10000, ["IMA2_TRASH_TTL_MS"], ["trash.ttlMs"], None,
            "how long deleted images stay restorable"),
    # --- style sheets, models, logging, features ----------------------------------------
    Setting("style_sheet_max_prefix", "int", 4000, ["IMA2_STYLE_SHEET_MAX_PREFIX"],
            ["styleSheet.maxPrefix"], None, "cap of prefix + prompt when a sheet applies"),
    Setting("style_model", "str", "gpt-5.4-mini", ["IMA2_STYLE_MODEL"], ["styleSheet.model"],
            None, "model for style-sheet extraction"),
    Setting("image_model_default", "str", "gpt-5.4-mini", ["IMA2_IMAGE_MODEL_DEFAULT"],
            ["imageModels.default"], None, "default host model"),
    Setting("log_level", "loglevel", _d(lambda v: "debug" if v["dev"] else "info"),
            ["IMA2_LOG_LEVEL"], ["log.level"], None, "debug, info, warn, error or silent"),
    Setting("card_news", "bool", _d(lambda v: bool(v["dev"])), ["IMA2_CARD_NEWS"],
            ["features.cardNews"], None, "accepted for compatibility (card news is not built)"),
]

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}

# The smallest accepted value of integer settings (others: 0). Ports are 0..65535.
INT_MINIMUM = {
    "max_parallel": 1, "history_page_size": 1, "history_max_page": 1, "graph_max_nodes": 1,
    "graph_max_edges": 1, "generated_hex_bytes": 1, "node_hex_bytes": 1,
    "oauth_status_timeout_ms": 1, "upstream_connect_timeout_ms": 1,
    "upstream_idle_timeout_ms": 1, "inflight_reap_ms": 1,
}
PORT_SETTINGS = ("port", "oauth_proxy_port")

# Env variables the original reads that only matter to one feature (documented in README).
PASSIVE_ENV = (
    "IMA2_CARD_NEWS_PLANNER", "IMA2_CARD_NEWS_PLANNER_MODEL", "IMA2_CARD_NEWS_PLANNER_TIMEOUT_MS",
    "IMA2_CARD_NEWS_PLANNER_FALLBACK", "VITE_IMA2_DEV",
)


class ConfigError(ValueError):
    """A setting value that cannot be used; the message names the setting and its source."""


class Config:
    """Loaded settings: attribute access to values, ``source(name)`` says where each came from."""

    def __init__(self, values: Dict[str, Any], sources: Dict[str, str], env: Mapping[str, str],
                 config_file: Optional[str], warnings: List[str], raw_file: Dict[str, Any]):
        self._values = values
        self._sources = sources
        self.env = dict(env)
        self.config_file = config_file  # the config.json that was read, or None
        self.warnings = warnings
        self.file_data = raw_file
        self.package_root = PACKAGE_ROOT

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    def source(self, name: str) -> str:
        return self._sources.get(name, "default")

    def items(self) -> List[Tuple[str, Any, str]]:
        return [(s.name, self._values[s.name], self.source(s.name)) for s in SETTINGS]

    def replace(self, **overrides: Any) -> "Config":
        values = dict(self._values)
        sources = dict(self._sources)
        for key, value in overrides.items():
            values[key] = value
            sources[key] = "override"
        return Config(values, sources, self.env, self.config_file, list(self.warnings),
                      self.file_data)

    # Derived values used in several places -------------------------------------------
    @property
    def oauth_base_url(self) -> str:
        if self.oauth_url:
            return str(self.oauth_url).rstrip("/")
        return "http://127.0.0.1:%d" % self.oauth_proxy_port

    @property
    def oauth_auto_start(self) -> bool:
        return not self.no_oauth_proxy and not self.oauth_url

    @property
    def api_key_source(self) -> str:
        if not self.api_key:
            return "none"
        return "env" if self.source("api_key").startswith("env") else "config"

    @property
    def config_json_path(self) -> str:
        return os.path.join(self.config_dir, "config.json")


# --------------------------------------------------------------------------------------
# Value parsing
# --------------------------------------------------------------------------------------
_SIZE_RE = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|pb)?\s*$", re.I)
_SIZE_UNITS = {"b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40, "pb": 1 << 50}
_DUR_RE = re.compile(
    r"^\s*(-?(?:\d+)?\.?\d+)\s*(milliseconds?|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m|"
    r"hours?|hrs?|h|days?|d|weeks?|w|years?|yrs?|y)?\s*$", re.I)
_DUR_MS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000, "w": 604800000,
           "y": 31557600000}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def js_number(value: Any) -> Optional[float]:
    """Like JavaScript ``Number(value)`` for config input; None when not finite."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            if re.match(r"^0[xXoObB][0-9a-fA-F]+$", text):
                number = float(int(text, 0))
            elif re.match(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$", text):
                number = float(text)
            else:
                return None
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def parse_size(value: Any) -> Optional[int]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    match = _SIZE_RE.match(value)
    if not match:
        return None
    amount = float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]
    return int(amount) if amount >= 0 else None


def parse_duration_ms(value: Any) -> Optional[int]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if not isinstance(value, str):
        return None
    match = _DUR_RE.match(value)
    if not match:
        return None
    unit = (match.group(2) or "ms").lower()
    key = "ms" if unit.startswith(("ms", "msec", "milli")) else unit[0]
    return int(float(match.group(1)) * _DUR_MS[key])


def allowed_values(setting: Setting) -> str:
    """What ``setting`` accepts, in words (for the message about an invalid value)."""
    kind = setting.kind
    if kind == "int":
        if setting.name in PORT_SETTINGS:
            return "an integer port 0..65535"
        return "an integer >= %d" % INT_MINIMUM.get(setting.name, 0)
    return {
        "bool": "1, true, yes or on / 0, false, no or off",
        "size": "a size such as 50mb, 512kb or 1048576",
        "duration": "a duration such as 1y, 7d, 10m or 30000 (ms)",
        "list": "comma-separated names (a JSON list in config.json)",
        "moderation": "a non-empty JSON list of strings",
        "loglevel": ", ".join(LOG_LEVELS),
        "provider": ", ".join(PROVIDERS),
        "path": "a non-empty path",
        "str": "text",
    }.get(kind, kind)


def _parse(setting: Setting, raw: Any) -> Tuple[bool, Any]:
    """Return (ok, value). Strings from env and JSON values from config.json are accepted."""
    kind = setting.kind
    if kind == "int":
        number = js_number(raw)
        if number is None or number != int(number):
            return False, None
        value = int(number)
        if setting.name in PORT_SETTINGS:
            return 0 <= value <= 65535, value
        return value >= INT_MINIMUM.get(setting.name, 0), value
    if kind == "bool":
        if isinstance(raw, bool):
            return True, raw
        text = str(raw).strip().lower()
        if text in _TRUE or text in _FALSE:
            return True, text in _TRUE
        return False, None
    if kind == "size":
        size = parse_size(raw)
        return (size is not None), size
    if kind == "duration":
        ms = parse_duration_ms(raw)
        return (ms is not None), ms
    if kind == "list":
        if isinstance(raw, list):
            return True, [str(x).strip() for x in raw if str(x).strip()]
        if isinstance(raw, str):
            return True, [x.strip() for x in raw.split(",") if x.strip()]
        return False, None
    if kind == "moderation":
        if isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
            return True, list(raw)
        return False, None
    if kind == "loglevel":
        text = str(raw).strip().lower()
        return text in LOG_LEVELS, text
    if kind == "imagepath":
        text = str(raw).strip().lower() if isinstance(raw, str) else ""
        return (True, text) if text in IMAGE_PATHS else (False, None)
    if kind == "provider":
        text = str(raw).strip().lower()
        return (text in PROVIDERS), text
    if kind == "path":
        if not isinstance(raw, str) or not raw:
            return False, None
        return True, os.path.abspath(os.path.expanduser(raw))
    if kind == "str":
        if raw is None:
            return False, None
        return True, raw if isinstance(raw, str) else str(raw)
    raise AssertionError(kind)


def _json_lookup(data: Dict[str, Any], dotted: str) -> Tuple[bool, Any]:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    if node is None:
        return False, None
    return True, node


def read_config_file(config_dir: str, warnings: List[str]) -> Tuple[Optional[str], Dict[str, Any]]:
    """First existing config.json that parses to an object: <configDir>, then <package>/.ima2."""
    for path in (os.path.join(config_dir, "config.json"),
                 os.path.join(PACKAGE_ROOT, ".ima2", "config.json")):
        try:
            with open(path, "rb") as handle:
                data = json.loads(handle.read().decode("utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            warnings.append("config file %s skipped: %s" % (path, exc.__class__.__name__))
            continue
        if isinstance(data, dict):
            return path, data
        warnings.append("config file %s skipped: not a JSON object" % path)
    return None, {}


def load_config(env: Optional[Mapping[str, str]] = None,
                flags: Optional[Mapping[str, Any]] = None) -> Config:
    """Build a Config. ``env`` defaults to ``os.environ``; ``flags`` are CLI values by name."""
    env = dict(os.environ if env is None else env)
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    warnings: List[str] = []
    values: Dict[str, Any] = {"_home": env.get("HOME") or os.path.expanduser("~")}
    sources: Dict[str, str] = {}
    config_file: Optional[str] = None
    file_data: Dict[str, Any] = {}

    for setting in SETTINGS:
        chosen = False
        rejected: List[str] = []  # "NAME='raw' (where)" of the invalid values passed over
        if setting.name in flags:
            ok, value = _parse(setting, flags[setting.name])
            if ok:
                values[setting.name], sources[setting.name] = value, "flag " + (setting.flag or "")
                chosen = True
            else:
                raise ConfigError("%s: invalid value %r (allowed: %s)" % (
                    setting.flag or setting.name, flags[setting.name], allowed_values(setting)))
        if not chosen:
            for name in setting.env:
                raw = env.get(name)
                if raw is None or raw == "":
                    continue
                ok, value = _parse(setting, raw)
                if ok:
                    values[setting.name], sources[setting.name] = value, "env " + name
                    chosen = True
                    break
                rejected.append("%s=%r (environment)" % (name, raw))
        if not chosen:
            for path in setting.json:
                found, raw = _json_lookup(file_data, path)
                if not found:
                    continue
                ok, value = _parse(setting, raw)
                if ok:
                    values[setting.name] = value
                    sources[setting.name] = "config.json " + path
                    chosen = True
                    break
                rejected.append("%s=%r (%s)" % (path, raw, config_file or "config.json"))
        if not chosen:
            default = setting.default
            value = default(values) if callable(default) else default
            if setting.kind in ("size", "duration"):
                value = _parse(setting, value)[1]
            values[setting.name] = value
            sources[setting.name] = "default"
        for what in rejected:
            # Never a silent default: say what was refused, what is allowed, what is used.
            warnings.append("%s is not valid for %s (allowed: %s); using %r from %s instead"
                            % (what, setting.name, allowed_values(setting),
                               values[setting.name], sources[setting.name]))
        if setting.name == "config_dir":
            # config.json lives in the state folder, so read it as soon as that is known.
            config_file, file_data = read_config_file(values["config_dir"], warnings)

    values.pop("_home", None)
    _validate(values, sources)
    return Config(values, sources, env, config_file, warnings, file_data)


def _validate(values: Dict[str, Any], sources: Dict[str, str]) -> None:
    port = values["port"]
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError("port %r (from %s) must be an integer 0..65535" % (port, sources["port"]))
    if not isinstance(values["oauth_proxy_port"], int):
        raise ConfigError("oauth proxy port %r (from %s) must be an integer"
                          % (values["oauth_proxy_port"], sources["oauth_proxy_port"]))
