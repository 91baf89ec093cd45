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
    """One configurable value: where it may come from and how it is parsed.

    Rows are written with keywords (``Setting(name=..., kind=..., default=..., env=(...),
    json=(...), flag=..., help=...)``); the old positional order and ``json_paths=`` still work.
    """

    __slots__ = ("name", "kind", "default", "env", "json", "flag", "help", "secret")

    def __init__(
        self,
        name: str,
        kind: str,
        default: Any = None,
        env: Sequence[str] = (),
        json_paths: Sequence[str] = (),
        flag: Optional[str] = None,
        help: str = "",
        secret: bool = False,
        *,
        json: Optional[Sequence[str]] = None,
    ) -> None:
        self.name = name
        self.kind = kind  # a key of KIND_TYPES
        self.default = default  # a value, or a callable(values) for derived defaults
        self.env = tuple(env)
        self.json = tuple(json_paths if json is None else json)  # dotted config.json keys
        self.flag = flag
        self.help = help
        self.secret = secret


def _d(fn: Callable[[Dict[str, Any]], Any]) -> Callable[[Dict[str, Any]], Any]:
    return fn


SETTINGS: List[Setting] = [
    # --- state folder first: every path default derives from it ---------------------------
    Setting(name="config_dir", kind="path",
            default=_d(lambda v: os.path.join(v["_home"], ".ima2")), env=("IMA2_CONFIG_DIR",),
            flag="--config-dir", help="state folder (all of ima2's files)"),
    Setting(name="dev", kind="bool", default=False, env=("IMA2_DEV",), flag="--dev",
            help="developer defaults (debug log)"),
    # --- server -------------------------------------------------------------------------
    Setting(name="port", kind="int", default=3333, env=("IMA2_PORT", "PORT"),
            json=("server.port",), flag="--port",
            help="HTTP port; busy → the next free of port+1..port+20"),
    Setting(name="host", kind="str", default="127.0.0.1", env=("IMA2_HOST",),
            json=("server.host",), flag="--host",
            help="bind address; beyond loopback a token is required"),
    Setting(name="body_limit", kind="size", default="50mb", env=("IMA2_BODY_LIMIT",),
            json=("server.bodyLimit",),
            help="largest JSON request body (413 PAYLOAD_TOO_LARGE above)"),
    Setting(name="allowed_hosts", kind="list", default=[], env=("IMA2_ALLOWED_HOSTS",),
            json=("server.allowedHosts",),
            help="extra Host names accepted besides loopback (comma-separated)"),
    Setting(name="allowed_origins", kind="list", default=[], env=("IMA2_ALLOWED_ORIGINS",),
            json=("server.allowedOrigins",),
            help=("exact origins (scheme://host:port) allowed to write through a proxy that "
                  "rewrites Host (comma-separated)")),
    Setting(name="max_connections", kind="int", default=256, env=("IMA2_MAX_CONNECTIONS",),
            json=("server.maxConnections",),
            help="most open connections; beyond it 503 TOO_MANY_CONNECTIONS"),
    Setting(name="body_timeout_ms", kind="int", default=10000, env=("IMA2_BODY_TIMEOUT_MS",),
            json=("server.bodyTimeoutMs",),
            help=("a request body may stall this long; after it it must arrive at "
                  "IMA2_BODY_MIN_RATE (408 REQUEST_TIMEOUT)")),
    Setting(name="body_min_rate", kind="size", default="64kb", env=("IMA2_BODY_MIN_RATE",),
            json=("server.bodyMinRate",), help="slowest accepted request body, bytes per second"),
    Setting(name="token", kind="str", default=None, env=("IMA2_TOKEN",), json=("server.token",),
            help="access token; generated and stored when binding beyond loopback", secret=True),
    # --- limits -------------------------------------------------------------------------
    Setting(name="max_ref_b64_bytes", kind="int", default=7340032, env=("IMA2_MAX_REF_B64_BYTES",),
            json=("limits.maxRefB64Bytes",), help="largest reference image (base64 characters)"),
    Setting(name="max_ref_count", kind="int", default=5, env=("IMA2_MAX_REF_COUNT",),
            json=("limits.maxRefCount",), help="most reference images per request"),
    Setting(name="max_parallel", kind="int", default=8, env=("IMA2_MAX_PARALLEL",),
            json=("limits.maxParallel",),
            help="most upstream calls one request runs at once (n is still capped at 8)"),
    Setting(name="max_concurrent_jobs", kind="int", default=2, env=("IMA2_MAX_CONCURRENT_JOBS",),
            json=("jobs.maxConcurrent",),
            help="most generation jobs running at once (the rest wait in the queue)"),
    Setting(name="callback_hosts", kind="list", default=[], env=("IMA2_CALLBACK_HOSTS",),
            json=("jobs.callbackHosts",), help="hosts job callbacks may reach besides loopback"),
    Setting(name="job_deadline_ms", kind="int", default=0, env=("IMA2_JOB_DEADLINE_MS",),
            json=("jobs.deadlineMs",),
            help="longest a job may run, upstream retries included (0 = no deadline)"),
    Setting(name="quota_reserve_percent", kind="int", default=5,
            env=("IMA2_QUOTA_RESERVE_PERCENT",), json=("jobs.quotaReservePercent",),
            help="quota share kept back: the queue pauses before a job when a usage window is "
            "this close to full (0 = only on a 429)"),
    Setting(name="graph_max_nodes", kind="int", default=500, env=("IMA2_GRAPH_MAX_NODES",),
            json=("limits.graphMaxNodes",), help="most nodes in one saved graph"),
    Setting(name="graph_max_edges", kind="int", default=1000, env=("IMA2_GRAPH_MAX_EDGES",),
            json=("limits.graphMaxEdges",), help="most edges in one saved graph"),
    Setting(name="history_page_size", kind="int", default=50, env=("IMA2_HISTORY_PAGE_SIZE",),
            json=("history.defaultPageSize", "limits.historyDefaultPageSize"),
            help="default /api/history page"),
    Setting(name="history_max_page", kind="int", default=500, env=("IMA2_HISTORY_MAX_PAGE",),
            json=("history.maxPageCap", "limits.historyMaxPageCap"),
            help="largest /api/history page"),
    Setting(name="history_snapshot_min", kind="int", default=2000,
            env=("IMA2_HISTORY_SNAPSHOT_MIN",), json=("history.snapshotMinImages",),
            help="smallest gallery whose index is snapshotted for fast restarts (0 = never)"),
    Setting(name="bulk_max", kind="int", default=1000, env=("IMA2_BULK_MAX",),
            json=("history.bulkMax",),
            help="most images one bulk action (or export selection by names) may name"),
    Setting(name="import_max_bytes", kind="size", default="2gb", env=("IMA2_IMPORT_MAX_BYTES",),
            json=("history.importMaxBytes",),
            help="largest import bundle, and the most its files may expand to"),
    Setting(name="import_max_files", kind="int", default=100000,
            env=("IMA2_IMPORT_MAX_FILES",), json=("history.importMaxFiles",),
            help="most entries in one import bundle"),
    # --- OAuth proxy / upstream ---------------------------------------------------------
    Setting(name="oauth_proxy_port", kind="int", default=10531,
            env=("IMA2_OAUTH_PROXY_PORT", "OAUTH_PORT"), json=("oauth.proxyPort",),
            help="port of the openai-oauth proxy"),
    Setting(name="no_oauth_proxy", kind="bool", default=False, env=("IMA2_NO_OAUTH_PROXY",),
            json=("oauth.disableAutoStart",), flag="--no-oauth-proxy",
            help="do not start `npx openai-oauth` (use a running proxy)"),
    Setting(name="oauth_url", kind="str", default=None, env=("IMA2_OAUTH_URL",),
            json=("oauth.url",),
            help="base URL of an external OpenAI-compatible Responses endpoint (skips spawning)"),
    Setting(name="provider", kind="provider", default="oauth", env=("IMA2_PROVIDER",),
            flag="--offline",
            help="image provider: oauth (the proxy) or offline (deterministic local pictures)"),
    Setting(name="offline_step_ms", kind="int", default=250, env=("IMA2_OFFLINE_STEP_MS",),
            help="offline provider: pause between stream events (phases, partials)"),
    Setting(name="oauth_status_timeout_ms", kind="int", default=3000,
            env=("IMA2_OAUTH_STATUS_TIMEOUT_MS",), json=("oauth.statusTimeoutMs",),
            help="proxy readiness wait and /v1/models timeout"),
    Setting(name="oauth_restart_delay_ms", kind="int", default=5000,
            env=("IMA2_OAUTH_RESTART_DELAY_MS",), json=("oauth.restartDelayMs",),
            help="first restart delay of the proxy (then backoff)"),
    Setting(name="oauth_package", kind="str", default="openai-oauth@2.0.0",
            env=("IMA2_OAUTH_PACKAGE",), json=("oauth.package",),
            help="what `npx` runs as the proxy (pinned version)"),
    Setting(name="oauth_args", kind="str", default="", env=("IMA2_OAUTH_ARGS",),
            json=("oauth.args",),
            help=("extra proxy arguments (e.g. --oauth-file, --models, --base-url, "
                  "--codex-version)")),
    Setting(name="image_path", kind="imagepath", default="auto", env=("IMA2_IMAGE_PATH",),
            json=("upstream.imagePath",),
            help=("render path: auto (hosted tool, falling back to the Images API), responses, "
                  "images")),
    Setting(name="images_model", kind="str", default="gpt-image-2", env=("IMA2_IMAGE_API_MODEL",),
            json=("upstream.imageApiModel",), help="image model of the Images API path"),
    Setting(name="research_suffix", kind="str", default=RESEARCH_SUFFIX,
            env=("IMA2_RESEARCH_SUFFIX",), json=("oauth.researchSuffix",),
            help="text appended to auto-mode prompts"),
    Setting(name="valid_moderation", kind="moderation", default=["auto", "low"],
            json=("oauth.validModeration",), help="accepted moderation values"),
    Setting(name="upstream_connect_timeout_ms", kind="int", default=10000,
            env=("IMA2_UPSTREAM_CONNECT_TIMEOUT_MS",), json=("upstream.connectTimeoutMs",),
            help="connect timeout to the proxy"),
    Setting(name="upstream_idle_timeout_ms", kind="int", default=180000,
            env=("IMA2_UPSTREAM_IDLE_TIMEOUT_MS",), json=("upstream.idleTimeoutMs",),
            help="no byte from the proxy this long → UPSTREAM_TIMEOUT"),
    Setting(name="upstream_total_timeout_ms", kind="int", default=600000,
            env=("IMA2_UPSTREAM_TOTAL_TIMEOUT_MS",), json=("upstream.totalTimeoutMs",),
            help="longest one upstream attempt may take, however steadily bytes arrive"),
    Setting(name="max_upstream_image_bytes", kind="size", default="50mb",
            env=("IMA2_MAX_UPSTREAM_IMAGE_BYTES",), json=("upstream.maxImageBytes",),
            help="largest image accepted from the proxy (502 UPSTREAM_TOO_LARGE above)"),
    Setting(name="openai_base_url", kind="str", default="https://api.openai.com",
            env=("IMA2_OPENAI_BASE_URL",), json=("openai.baseUrl",),
            help="OpenAI API base (billing, style-sheet extraction)"),
    Setting(name="ca_bundle", kind="path", default=None, env=("IMA2_CA_BUNDLE",),
            json=("tls.caBundle",),
            help="extra CA bundle for HTTPS (corporate CAs); TLS is always verified"),
    Setting(name="api_key", kind="str", default=None, env=("OPENAI_API_KEY",), json=("apiKey",),
            help="OpenAI API key (billing and style-sheet extraction only)", secret=True),
    # --- storage ------------------------------------------------------------------------
    Setting(name="generated_dir", kind="path",
            default=_d(lambda v: os.path.join(v["config_dir"], "generated")),
            env=("IMA2_GENERATED_DIR",), json=("storage.generatedDir",),
            help="image gallery folder"),
    Setting(name="trash_dir_name", kind="str", default=".trash", env=("IMA2_TRASH_DIRNAME",),
            json=("storage.trashDirName",), help="trash folder name inside the gallery"),
    Setting(name="trash_dir", kind="path",
            default=_d(lambda v: os.path.join(v["generated_dir"], v["trash_dir_name"])),
            env=("IMA2_TRASH_DIR",), json=("storage.trashDir",),
            help="trash folder (follows a custom gallery folder)"),
    Setting(name="generated_dir_name", kind="str", default="generated",
            env=("IMA2_GENERATED_DIRNAME",), json=("storage.generatedDirName",),
            help="accepted for compatibility (unused)"),
    Setting(name="db_path", kind="path",
            default=_d(lambda v: os.path.join(v["config_dir"], "sessions.db")),
            env=("IMA2_DB_PATH",), json=("storage.dbPath",),
            help="ima2-gen sessions.db imported once"),
    Setting(name="advertise_file", kind="path",
            default=_d(lambda v: os.path.join(v["config_dir"], "server.json")),
            env=("IMA2_ADVERTISE_FILE",), json=("storage.advertiseFile",),
            help="server advertisement"),
    Setting(name="static_max_age", kind="duration", default="1y", env=("IMA2_STATIC_MAX_AGE",),
            json=("storage.staticMaxAge",), help="cache lifetime of /generated files"),
    Setting(name="fsync", kind="bool", default=True, env=("IMA2_FSYNC",), json=("storage.fsync",),
            help="fsync atomic writes (turn off only for tests)"),
    # --- ids, in-flight, trash ----------------------------------------------------------
    Setting(name="generated_hex_bytes", kind="int", default=4, env=("IMA2_GENERATED_HEX_BYTES",),
            json=("ids.generatedHexBytes",), help="random bytes in generated file names"),
    Setting(name="node_hex_bytes", kind="int", default=5, env=("IMA2_NODE_HEX_BYTES",),
            json=("ids.nodeHexBytes",), help="random bytes in node ids"),
    Setting(name="inflight_ttl_ms", kind="int", default=600000, env=("IMA2_INFLIGHT_TTL_MS",),
            json=("inflight.ttlMs",), help="in-flight record lifetime"),
    Setting(name="inflight_reap_ms", kind="int", default=60000, env=("IMA2_INFLIGHT_REAP_MS",),
            json=("inflight.reapMs",), help="in-flight reaper period"),
    Setting(name="inflight_terminal_ttl_ms", kind="int", default=30000,
            env=("IMA2_INFLIGHT_TERMINAL_TTL_MS",), json=("inflight.terminalTtlMs",),
            help="how long finished jobs stay listed"),
    Setting(name="trash_ttl_ms", kind="int", default=10000, env=("IMA2_TRASH_TTL_MS",),
            json=("trash.ttlMs",), help="how long deleted images stay restorable"),
    # --- style sheets, models, logging, features ----------------------------------------
    Setting(name="style_sheet_max_prefix", kind="int", default=4000,
            env=("IMA2_STYLE_SHEET_MAX_PREFIX",), json=("styleSheet.maxPrefix",),
            help="cap of prefix + prompt when a sheet applies"),
    Setting(name="style_model", kind="str", default="gpt-5.4-mini", env=("IMA2_STYLE_MODEL",),
            json=("styleSheet.model",), help="model for style-sheet extraction"),
    Setting(name="image_model_default", kind="str", default="gpt-5.4-mini",
            env=("IMA2_IMAGE_MODEL_DEFAULT",), json=("imageModels.default",),
            help="default host model"),
    Setting(name="log_level", kind="loglevel",
            default=_d(lambda v: "debug" if v["dev"] else "info"), env=("IMA2_LOG_LEVEL",),
            json=("log.level",), help="debug, info, warn, error or silent"),
    Setting(name="card_news", kind="bool", default=_d(lambda v: bool(v["dev"])),
            env=("IMA2_CARD_NEWS",), json=("features.cardNews",),
            help="accepted for compatibility (card news is not built)"),
]

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}

# The smallest accepted value of integer settings (others: 0). Ports are 0..65535.
INT_MINIMUM = {
    "max_parallel": 1, "history_page_size": 1, "history_max_page": 1, "graph_max_nodes": 1,
    "graph_max_edges": 1, "generated_hex_bytes": 1, "node_hex_bytes": 1,
    "oauth_status_timeout_ms": 1, "upstream_connect_timeout_ms": 1,
    "upstream_idle_timeout_ms": 1, "inflight_reap_ms": 1,
}
INT_MAXIMUM = {"quota_reserve_percent": 99}
PORT_SETTINGS = ("port", "oauth_proxy_port")

# Env variables the original reads that only matter to one feature (documented in README).
PASSIVE_ENV = (
    "IMA2_CARD_NEWS_PLANNER", "IMA2_CARD_NEWS_PLANNER_MODEL", "IMA2_CARD_NEWS_PLANNER_TIMEOUT_MS",
    "IMA2_CARD_NEWS_PLANNER_FALLBACK", "VITE_IMA2_DEV",
)


class ConfigError(ValueError):
    """A setting value that cannot be used; the message names the setting and its source."""


# The Python type of each kind's value (an Optional of it when the row's default is None).
KIND_TYPES: Dict[str, type] = {
    "int": int, "size": int, "duration": int, "bool": bool, "str": str, "path": str,
    "list": list, "moderation": list, "loglevel": str, "imagepath": str, "provider": str,
}


class Config:
    """Loaded settings as typed, read-only attributes; ``source(name)`` says where each came from.

    One annotated field per ``SETTINGS`` row, in the table's order (tests/test_config_typed.py
    fails when a row has no field or a field no row). Values are already parsed to the field's
    type, so call sites use them as they are. Frozen: ``replace(**overrides)`` makes a copy.
    """

    config_dir: str
    dev: bool
    port: int
    host: str
    body_limit: int
    allowed_hosts: List[str]
    allowed_origins: List[str]
    max_connections: int
    body_timeout_ms: int
    body_min_rate: int
    token: Optional[str]
    max_ref_b64_bytes: int
    max_ref_count: int
    max_parallel: int
    max_concurrent_jobs: int
    callback_hosts: List[str]
    job_deadline_ms: int
    quota_reserve_percent: int
    graph_max_nodes: int
    graph_max_edges: int
    history_page_size: int
    history_max_page: int
    history_snapshot_min: int
    bulk_max: int
    import_max_bytes: int
    import_max_files: int
    oauth_proxy_port: int
    no_oauth_proxy: bool
    oauth_url: Optional[str]
    provider: str
    offline_step_ms: int
    oauth_status_timeout_ms: int
    oauth_restart_delay_ms: int
    oauth_package: str
    oauth_args: str
    image_path: str
    images_model: str
    research_suffix: str
    valid_moderation: List[str]
    upstream_connect_timeout_ms: int
    upstream_idle_timeout_ms: int
    upstream_total_timeout_ms: int
    max_upstream_image_bytes: int
    openai_base_url: str
    ca_bundle: Optional[str]
    api_key: Optional[str]
    generated_dir: str
    trash_dir_name: str
    trash_dir: str
    generated_dir_name: str
    db_path: str
    advertise_file: str
    static_max_age: int
    fsync: bool
    generated_hex_bytes: int
    node_hex_bytes: int
    inflight_ttl_ms: int
    inflight_reap_ms: int
    inflight_terminal_ttl_ms: int
    trash_ttl_ms: int
    style_sheet_max_prefix: int
    style_model: str
    image_model_default: str
    log_level: str
    card_news: bool
    # Not settings: what the values were loaded from.
    _values: Dict[str, Any]
    _sources: Dict[str, str]
    env: Dict[str, str]
    config_file: Optional[str]  # the config.json that was read, or None
    warnings: List[str]
    file_data: Dict[str, Any]
    package_root: str

    def __init__(self, values: Dict[str, Any], sources: Dict[str, str], env: Mapping[str, str],
                 config_file: Optional[str], warnings: List[str], raw_file: Dict[str, Any]):
        init = object.__setattr__
        init(self, "_values", dict(values))
        init(self, "_sources", dict(sources))
        for name, value in values.items():
            init(self, name, value)
        init(self, "env", dict(env))
        init(self, "config_file", config_file)
        init(self, "warnings", warnings)
        init(self, "file_data", raw_file)
        init(self, "package_root", PACKAGE_ROOT)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Config is read-only; use config.replace(%s=...)" % name)

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Config is read-only")

    def get(self, name: str, default: Any = None) -> Any:
        """A setting by name (for code that loops over ``SETTINGS``); prefer the attribute."""
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
        if setting.name in INT_MAXIMUM:
            return "an integer %d..%d" % (INT_MINIMUM.get(setting.name, 0),
                                          INT_MAXIMUM[setting.name])
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


def _parse_int(setting: Setting, raw: Any) -> Tuple[bool, Any]:
    number = js_number(raw)
    if number is None or number != int(number):
        return False, None
    value = int(number)
    if setting.name in PORT_SETTINGS:
        return 0 <= value <= 65535, value
    return INT_MINIMUM.get(setting.name, 0) <= value <= INT_MAXIMUM.get(
        setting.name, value), value


def _parse_bool(setting: Setting, raw: Any) -> Tuple[bool, Any]:
    if isinstance(raw, bool):
        return True, raw
    text = str(raw).strip().lower()
    if text in _TRUE or text in _FALSE:
        return True, text in _TRUE
    return False, None


def _parse_list(setting: Setting, raw: Any) -> Tuple[bool, Any]:
    if isinstance(raw, list):
        return True, [str(x).strip() for x in raw if str(x).strip()]
    if isinstance(raw, str):
        return True, [x.strip() for x in raw.split(",") if x.strip()]
    return False, None


def _parse_moderation(setting: Setting, raw: Any) -> Tuple[bool, Any]:
    if isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        return True, list(raw)
    return False, None


def _one_of(choices: Sequence[str], strings_only: bool = False
            ) -> Callable[[Setting, Any], Tuple[bool, Any]]:
    def parse(setting: Setting, raw: Any) -> Tuple[bool, Any]:
        if strings_only and not isinstance(raw, str):
            return False, None
        text = str(raw).strip().lower()
        return (True, text) if text in choices else (False, text if not strings_only else None)
    return parse


def _parse_path(setting: Setting, raw: Any) -> Tuple[bool, Any]:
    if not isinstance(raw, str) or not raw:
        return False, None
    return True, os.path.abspath(os.path.expanduser(raw))


def _parse_str(setting: Setting, raw: Any) -> Tuple[bool, Any]:
    if raw is None:
        return False, None
    return True, raw if isinstance(raw, str) else str(raw)


def _parse_size(setting: Setting, raw: Any) -> Tuple[bool, Any]:
    size = parse_size(raw)
    return (size is not None), size


def _parse_duration(setting: Setting, raw: Any) -> Tuple[bool, Any]:
    ms = parse_duration_ms(raw)
    return (ms is not None), ms


# kind -> parser(setting, raw) -> (ok, value); the kinds of KIND_TYPES.
_PARSERS: Dict[str, Callable[[Setting, Any], Tuple[bool, Any]]] = {
    "int": _parse_int, "bool": _parse_bool, "size": _parse_size, "duration": _parse_duration,
    "list": _parse_list, "moderation": _parse_moderation, "loglevel": _one_of(LOG_LEVELS),
    "imagepath": _one_of(IMAGE_PATHS, strings_only=True), "provider": _one_of(PROVIDERS),
    "path": _parse_path, "str": _parse_str,
}


def _parse(setting: Setting, raw: Any) -> Tuple[bool, Any]:
    """Return (ok, value). Strings from env and JSON values from config.json are accepted."""
    parser = _PARSERS.get(setting.kind)
    if parser is None:
        raise AssertionError(setting.kind)
    return parser(setting, raw)


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
