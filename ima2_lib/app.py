"""App: owns configuration, services, the route table and the runtime state of one server.

Owns: ``App.handle(request) -> Response`` — request id, security, routing, the handler call
and the *single* place where errors are caught and rendered in the route's family (docs/API.md
§5, docs/API.md decision 2: never HTML); the runtime snapshot (backend/OAuth ports and URLs); the
``server.json`` advertisement; the state-folder lock (one server per folder) and the start-up
sweep of dead writers' temp files and orphan sidecars; start/stop of background services;
lifecycle hooks other services subscribe to. Must not: touch sockets (``server.py`` does) or hold module-level state.
"""
from __future__ import annotations

import copy
import os
import re
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, TypeVar

from . import __version__
from .clock import now_ms
from .config import Config, load_config
from .deps import Features
from .errors import ApiError, InternalError, NotFound, disk_full_error, error_body
from .hooks import Hook
from .httpio import Request, Response, json_response
from .log import Logger
from .router import Router
from .security import COOKIE_NAME, Security, is_loopback_host, is_wildcard_host
from .services.events import EventBus
from .store import (PROCESS_STARTED, FolderLock, atomic_write, ensure_dir,
                    ensure_private_dir, mark_clean_stop, read_json, sweep_stale_temps,
                    unchanged_since_clean_stop, write_json)

if TYPE_CHECKING:  # built in ``_build_services``, imported there (cold start, issue 19)
    from .static import StaticFiles
    from .services.generation import GenerationService
    from .services.history import HistoryService
    from .services.inflight import InflightRegistry
    from .services.jobs import JobQueue
    from .services.oauth import OAuthSupervisor
    from .services.offline import OfflineProvider
    from .services.sessions import SessionsService
    from .services.thumbs import ThumbnailService
    from .services.trash import TrashService

# Subscriber types of the App's hooks. Asset subscribers may answer counts
# ({"sessionsTouched": n, "nodesTouched": n}) that the publisher sums.
ImageSaved = Callable[[str], object]
AssetChanged = Callable[[str], Optional[Dict[str, int]]]
StyleSheetProvider = Callable[[str], Optional[Dict[str, Any]]]
SessionTitleProvider = Callable[[List[str]], Dict[str, str]]

_S = TypeVar("_S")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET_PATHS = ("/api/health", "/api/inflight")
GENERATED_PREFIX = "/generated/"  # routed like the API (routes/files.py)
SHARE_PREFIX = "/s/"  # share links (routes/shares.py): their token is in the path
CLEAN_STOP_FILE = "clean-stop.json"  # see store.mark_clean_stop
STATIC_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static")


def host_label(host: str) -> str:
    """URL host for ``host`` (docs/API.md §1.1; IPv6 literals bracketed, §19.23)."""
    if is_wildcard_host(host):
        return "localhost"
    return "[%s]" % host if ":" in host else host


class App:
    """Everything one ima2 server needs. Embeddable: ``App(config)`` + ``make_server``.

    Its collaborators, declared here with their types and built in ``__init__`` /
    ``_build_services`` (the one place): services receive the ``App`` and reach each other
    only through these attributes and hooks.
    """

    config: Config
    log: Logger
    features: Features
    security: Security
    router: Router
    events: EventBus  # GET /api/events
    offline: Optional[OfflineProvider]  # the stand-in proxy when IMA2_PROVIDER=offline
    inflight: InflightRegistry
    oauth: OAuthSupervisor
    sessions: SessionsService
    history: HistoryService  # the gallery index and its listings
    thumbs: ThumbnailService  # /generated/...?thumb=
    trash: TrashService  # delete / restore with undo, and the sweeper
    generation: GenerationService
    jobs: JobQueue
    # Hooks: generation fires ``image_saved`` after an image + sidecar are written (the
    # history index, the event stream); history fires ``asset_deleted`` / ``asset_restored``
    # (sessions mark their nodes). The ``*_hooks`` names are the same objects (old spelling).
    image_saved: Hook[ImageSaved]
    asset_deleted: Hook[AssetChanged]
    asset_restored: Hook[AssetChanged]
    image_saved_hooks: Hook[ImageSaved]
    asset_deleted_hooks: Hook[AssetChanged]
    asset_restored_hooks: Hook[AssetChanged]
    # Set by the sessions service (None without it): a session's enabled style sheet as
    # {"prefix", "sheet"}; titles of session ids (history groupBy=session).
    style_sheet_provider: Optional[StyleSheetProvider]
    session_title_provider: Optional[SessionTitleProvider]

    def __init__(self, config: Optional[Config] = None, log_stream: Any = None,
                 build_services: bool = True, owns_process: bool = False) -> None:
        """``build_services=False`` (``serve``): only what the health probe needs is built
        here; the services and the full route table are built by ``start``, after the first
        answer can already be given (cold start, issue 19). ``owns_process=True``
        (``serve``): process-wide tuning is allowed (the collector freeze after a big index
        load); an embedding program keeps the defaults and its process to itself."""
        self.config = config or load_config()
        self.owns_process = owns_process
        self.version = __version__
        self.features = Features(self.config.env)
        self.log = Logger(self.config.log_level, log_stream)
        self.shutdown_event = threading.Event()
        self.started_at = now_ms()
        self.started_monotonic = time.monotonic()
        # Start-up work the first answer does not need (the gallery index build) waits for
        # this: set once a request has been answered, when any request other than the
        # health probe arrives, or by ``release_deferred`` (cold start, issue 19).
        self.first_answer = threading.Event()
        self.pid = os.getpid()
        self.advertising = False
        self._runtime_lock = threading.Lock()
        self._services: List[Any] = []  # objects with optional start() / stop()
        self.image_saved = self.image_saved_hooks = Hook("image_saved")
        self.asset_deleted = self.asset_deleted_hooks = Hook("asset_deleted")
        self.asset_restored = self.asset_restored_hooks = Hook("asset_restored")
        self.style_sheet_provider = None
        self.session_title_provider = None

        ensure_private_dir(self.config.config_dir)
        ensure_dir(self.config.generated_dir)
        # One server per state folder: an OS lock held for this App's life (released by the
        # OS when the process dies). An App that does not hold it (a second process, or an
        # embedded App beside a running server) runs no start-up sweeps and leaves the
        # holder's in-flight journal alone.
        self.folder_lock = FolderLock(os.path.join(self.config.config_dir, "server.lock"))
        self.owns_folder = self.folder_lock.acquire()
        # "offline": a loopback stand-in for the proxy answers instead (services/offline.py).
        self.provider = "offline" if self.config.provider == "offline" else "oauth"
        self.offline = None
        if self.provider == "offline":
            from .services.offline import OfflineProvider

            self.offline = OfflineProvider(self)
            self.config = self.config.replace(oauth_url=self.offline.url)
        self.security = Security(self.config.host, self.config.allowed_hosts, self._token(),
                                 self.config.allowed_origins)
        # Until the services exist only the system routes (the health probe) are routed.
        self.services_built = False
        self.router = Router(_boot_routes())
        self._static: Optional[StaticFiles] = None  # built on first use (see ``static``)
        self._static_lock = threading.Lock()
        # Clear while ``start`` runs when the adapter answers during start-up: only the health
        # probe is answered before it is set (``serve`` answers first, then starts services).
        self.ready = threading.Event()
        if build_services:
            self.ready.set()
        oauth_ready = not self.config.oauth_auto_start
        self._runtime: Dict[str, Dict[str, Any]] = {
            "backend": {"configuredPort": self.config.port, "actualPort": self.config.port,
                        "url": self._server_url(self.config.port)},
            "oauth": {"configuredPort": self.config.oauth_proxy_port,
                      "actualPort": _url_port(self.config.oauth_base_url,
                                              self.config.oauth_proxy_port),
                      "url": self.config.oauth_base_url,
                      "status": "ready" if oauth_ready else "starting"},
        }
        self.events = EventBus(self.started_at)
        if build_services:
            self._build_services()

    def _build_services(self) -> None:
        """Create the services (each started and stopped in this order through ``_services``)
        and the full route table (importing the route modules imports the services)."""
        from .routes import all_routes
        from .services.generation import GenerationService
        from .services.history import HistoryService
        from .services.inflight import InflightRegistry
        from .services.jobs import JobQueue
        from .services.oauth import OAuthSupervisor
        from .services.prompt_library import PromptLibrary
        from .services.sessions import SessionsService
        from .services.shares import ShareService
        from .services.thumbs import ThumbnailService
        from .services.trash import TrashService

        if self.offline is not None:
            self.add_service(self.offline)
        self.inflight = self.add_service(InflightRegistry(self))
        self.oauth = self.add_service(OAuthSupervisor(self))
        self.sessions = self.add_service(SessionsService(self))
        self.thumbs = ThumbnailService(self)
        self.history = self.add_service(HistoryService(self))
        self.trash = self.add_service(TrashService(self, self.history))
        self.generation = self.add_service(GenerationService(self))
        self.jobs = self.add_service(JobQueue(self))
        self.prompt_library = PromptLibrary(os.path.join(self.config.config_dir, "prompts"),
                                            now_ms)
        self.shares = ShareService(self, os.path.join(self.config.config_dir, "shares"), now_ms)
        self.inflight.on_canceled = self.jobs.on_inflight_cancel
        self.inflight.on_phase = self.jobs.on_phase
        self._wire_events()
        self.router = Router(all_routes())
        self.services_built = True

    def _wire_events(self) -> None:
        """What ``GET /api/events`` carries: jobs, the queue, gallery changes."""
        events = self.events

        def job_event(name: str, data: Dict[str, Any]) -> None:
            events.publish(name, {"queue": data} if name.startswith("queue.") else {"job": data})

        def image_event(name: str) -> Callable[[str], None]:
            return lambda filename: events.publish(name, {"filename": filename}) and None

        self.jobs.listeners.append(job_event)
        self.image_saved.subscribe(image_event("image.saved"))
        self.asset_deleted.subscribe(image_event("image.deleted"))
        self.asset_restored.subscribe(image_event("image.restored"))

    @property
    def static(self) -> StaticFiles:
        """The studio's files; the manifest (every file read and hashed) is built on the
        first static request, not before the first answer (cold start, issue 19)."""
        if self._static is None:
            with self._static_lock:
                if self._static is None:
                    from .static import StaticFiles

                    self._static = StaticFiles(STATIC_ROOT, dev=self.config.dev)
        return self._static

    def add_service(self, service: _S) -> _S:
        self._services.append(service)
        return service

    # --- token ---------------------------------------------------------------------------
    @property
    def token_file(self) -> str:
        return os.path.join(self.config.config_dir, "token")

    def _token(self) -> Optional[str]:
        """IMA2_TOKEN when set; beyond loopback a stored (or new, 0600) token; else None."""
        if self.config.token:
            return self.config.token
        host = self.config.host
        if is_loopback_host(host) and not is_wildcard_host(host):
            return None
        try:
            with open(self.token_file, "r", encoding="utf-8") as handle:
                token = handle.read().strip()
            if token:
                return token
        except OSError:
            pass
        import secrets  # only when a token must be created

        token = secrets.token_urlsafe(32)
        write_secret_text(self.token_file, token, fsync=self.config.fsync)
        self.token_generated = True
        return token

    token_generated = False

    # --- runtime -------------------------------------------------------------------------
    def _server_url(self, port: int) -> str:
        return "http://%s:%d" % (host_label(self.config.host), port)

    def runtime_snapshot(self) -> Dict[str, Dict[str, Any]]:
        with self._runtime_lock:
            return copy.deepcopy(self._runtime)

    def runtime_value(self, section: str, key: str) -> Any:
        """One plain value of the runtime state (``runtime_snapshot`` copies it all)."""
        with self._runtime_lock:
            return self._runtime[section].get(key)

    @property
    def server_url(self) -> str:
        with self._runtime_lock:
            return self._runtime["backend"]["url"]

    def set_actual_port(self, port: int) -> None:
        with self._runtime_lock:
            self._runtime["backend"]["actualPort"] = port
            self._runtime["backend"]["url"] = self._server_url(port)

    def set_oauth_state(self, status: str, url: Optional[str] = None,
                        reason: Optional[str] = None, hint: Optional[str] = None) -> None:
        """Record the proxy state (and the URL its ready line announced, the proxy's own
        reason and a hint when not ready); re-advertise."""
        with self._runtime_lock:
            oauth = self._runtime["oauth"]
            oauth["status"] = status
            if url:
                oauth["url"] = url.rstrip("/")
                oauth["actualPort"] = _url_port(url, oauth["configuredPort"])
            for key, value in (("reason", reason), ("hint", hint)):
                if value:
                    oauth[key] = value
                else:
                    oauth.pop(key, None)
            current = {"status": oauth["status"], "url": oauth["url"]}
        self.events.publish("oauth.status", current)
        if self.advertising:
            self.write_advertisement()

    def style_sheet_for(self, session_id: Any) -> Optional[Dict[str, Any]]:
        """The enabled style sheet of ``session_id`` as {"prefix", "sheet"}, else None.

        Any failure reads as "no sheet" (docs/API.md §9.3: errors are swallowed).
        """
        if not isinstance(session_id, str) or not session_id or self.style_sheet_provider is None:
            return None
        try:
            return self.style_sheet_provider(session_id)
        except Exception as exc:  # noqa: BLE001
            self.log.warn("session", "stylesheet_lookup_failed", error=exc)
            return None

    def fire_image_saved(self, filename: str) -> None:
        """``filename`` (relative to the gallery) was just written with its sidecar."""
        for hook in self.image_saved:
            try:
                hook(filename)
            except Exception as exc:  # noqa: BLE001 - saving must not fail on a listener
                self.log.warn("asset", "saved_hook_failed", error=exc)

    def session_titles(self, session_ids: List[str]) -> Dict[str, str]:
        if self.session_title_provider is None or not session_ids:
            return {}
        try:
            return self.session_title_provider(session_ids)
        except Exception as exc:  # noqa: BLE001
            self.log.warn("session", "titles_failed", error=exc)
            return {}

    def fire_asset_deleted(self, filename: str) -> Dict[str, int]:
        """Tell subscribers (sessions) that ``filename`` left the gallery; sum their counts."""
        return self._fire(self.asset_deleted, filename)

    def fire_asset_restored(self, filename: str) -> Dict[str, int]:
        return self._fire(self.asset_restored, filename)

    def _fire(self, hooks: Hook[AssetChanged], filename: str) -> Dict[str, int]:
        totals = {"sessionsTouched": 0, "nodesTouched": 0}
        for hook in hooks:
            try:
                result = hook(filename) or {}
            except Exception as exc:  # noqa: BLE001 - a hook must not undo the file move
                self.log.warn("asset", "hook_failed", error=exc)
                continue
            for key in totals:
                totals[key] += int(result.get(key, 0))
        return totals

    def active_job_count(self) -> int:
        return self.inflight.active_count() if self.services_built else 0

    # --- lifecycle -----------------------------------------------------------------------
    def start(self, server: Any = None) -> None:
        """Record the bound port and start background services (proxy, index, sweeper).

        Requests that arrive meanwhile (after ``hold_requests``) wait for this to finish,
        except the health probe."""
        try:
            if server is not None:
                self.set_actual_port(int(server.server_address[1]))
            if not self.services_built:
                self._build_services()
            if self.owns_folder:
                self.sweep_leftovers()
            for service in self._services:
                start = getattr(service, "start", None)
                if start is not None:
                    start()
        finally:
            self.ready.set()

    def hold_requests(self) -> None:
        """Before serving ahead of ``start``: requests other than /api/health wait for it."""
        self.ready.clear()

    def release_deferred(self) -> None:
        """Let start-up work deferred until the first answer run now."""
        if not self.first_answer.is_set():
            self.first_answer.set()

    def stop(self) -> None:
        self.shutdown_event.set()
        self.release_deferred()
        for service in reversed(self._services):
            stop = getattr(service, "stop", None)
            if stop is not None:
                try:
                    stop()
                except Exception as exc:  # noqa: BLE001 - shutdown must go on
                    self.log.warn("app", "stop_failed", service=type(service).__name__,
                                  error=exc)
        if self.advertising:
            self.remove_advertisement()
        if self.owns_folder and self._gallery_swept and self.active_job_count() == 0:
            mark_clean_stop(self._clean_stop_path(), self.config.generated_dir)
        self.folder_lock.release()
        self.owns_folder = False

    _gallery_swept = False  # this process looked for leftovers (or knew there were none)

    def _clean_stop_path(self) -> str:
        return os.path.join(self.config.config_dir, CLEAN_STOP_FILE)

    def sweep_leftovers(self) -> None:
        """Start-up (folder lock held): temp files whose writer died, and sidecars whose image
        never arrived (a kill between the sidecar and the image; never one a trash entry
        still needs)."""
        from .services.saving import remove_orphan_sidecars

        config = self.config
        # Listing a 100,000-image gallery twice was most of a restart: skipped when the
        # gallery is as the last clean stop left it (store.unchanged_since_clean_stop).
        gallery = not unchanged_since_clean_stop(self._clean_stop_path(),
                                                 config.generated_dir)
        folders = [config.config_dir, config.trash_dir, os.path.join(config.config_dir,
                                                                     "sessions")]
        removed = sweep_stale_temps(folders + ([config.generated_dir] if gallery else []))
        if removed:
            self.log.warn("app", "stale_temp_files_removed", count=removed)
        if not gallery:
            self._gallery_swept = True
            return
        orphans = remove_orphan_sidecars(config.generated_dir, min(PROCESS_STARTED,
                                                                   time.time() - 5.0),
                                         self._trashed_names())
        if orphans:
            self.log.warn("app", "orphan_sidecars_removed", count=orphans)
        self._gallery_swept = True  # a clean stop may now say so (mark_clean_stop)

    def _trashed_names(self) -> List[str]:
        data = read_json(os.path.join(self.config.trash_dir, ".manifest.json"), default=None,
                         warn=lambda _m: None)
        entries = data.get("entries") if isinstance(data, dict) else None
        return [str(e.get("filename")) for e in (entries or {}).values() if isinstance(e, dict)]

    # --- advertisement (server.json, docs/API.md §13.3) --------------------------------------
    def advertisement(self) -> Dict[str, Any]:
        runtime = self.runtime_snapshot()
        backend = runtime["backend"]
        return {"port": backend["actualPort"], "url": backend["url"], "pid": self.pid,
                "startedAt": self.started_at, "version": self.version,
                "backend": backend, "oauth": runtime["oauth"]}

    def write_advertisement(self) -> None:
        self.advertising = True
        try:
            path = self.config.advertise_file
            ensure_dir(os.path.dirname(path) or ".")
            write_json(path, self.advertisement(), mode=0o600, fsync=self.config.fsync)
        except OSError as exc:
            self.log.warn("server", "advertise_failed", error=exc.strerror)

    def remove_advertisement(self) -> None:
        """Remove server.json only if it still names this process."""
        self.advertising = False
        path = self.config.advertise_file
        data = read_json(path, default=None, warn=lambda _m: None)
        if isinstance(data, dict) and data.get("pid") == self.pid:
            try:
                os.unlink(path)
            except OSError:
                pass

    # --- request handling ------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        """security → route → handler; the only place errors become responses."""
        is_api = req.path == "/api" or req.path.startswith("/api/")
        if req.path != "/api/health":
            if not self.ready.is_set():
                self.ready.wait()  # served ahead of start(): services first
            self.release_deferred()  # this request may need the deferred work
        if is_api:
            offered = req.header("X-Request-Id")
            req.request_id = offered if offered and _REQUEST_ID.match(offered) else (
                "req_" + _uuid4())
        try:
            resp = self._security(req) or self._dispatch(req, is_api)
        except ApiError as err:
            resp = self.error_response(disk_full_error(err) or err, req.family)
        except Exception as exc:  # noqa: BLE001 - the single catch-all
            full = disk_full_error(exc)
            if full is not None:
                return self._finish(req, is_api, self.error_response(full, req.family))
            self.log.error("http", "unhandled", requestId=req.request_id, path=req.path,
                           error=exc)
            if self.log.enabled("debug"):
                import traceback

                self.log.say(traceback.format_exc())
            err = InternalError("INTERNAL_ERROR",
                                "Internal server error (requestId %s)" % (req.request_id or "-"))
            resp = self.error_response(err, req.family)
        return self._finish(req, is_api, resp)

    def _finish(self, req: Request, is_api: bool, resp: Response) -> Response:
        if is_api:
            resp.set_header("X-Request-Id", req.request_id or "")
        self.release_deferred()
        return resp

    def error_response(self, err: ApiError, family: str) -> Response:
        resp = json_response(error_body(err, family), err.status, list(err.headers))
        resp.close = err.close
        return resp

    def _security(self, req: Request) -> Optional[Response]:
        host = req.header("Host")
        req.family = self.router.family_for(req.path)
        self.security.check_host(host)
        self.security.check_cross_site(req.method, host, req.header("Origin"),
                                       req.header("Sec-Fetch-Site"))
        if not self.security.token_required or req.path.startswith(SHARE_PREFIX):
            return None  # a share link's token (in its path) is its own capability
        query_token = req.query_one("token")
        if self.security.token_ok(req.header("Authorization"), req.header("Cookie")):
            return None
        if query_token and req.method == "GET" and self.security.token_ok(None, None, query_token):
            # The printed link: set the cookie and drop the token from the address bar.
            target = req.path if req.path.startswith("/") and not req.path.startswith("//") \
                else "/"
            resp = Response(303, b"", [("Location", target), (
                "Set-Cookie", "%s=%s; Path=/; HttpOnly; SameSite=Strict" % (
                    COOKIE_NAME, query_token))])
            return resp
        raise self.security.unauthorized()

    def _dispatch(self, req: Request, is_api: bool) -> Response:
        if is_api or req.path.startswith(GENERATED_PREFIX):
            route, params = self.router.match(req.method, req.path)
            req.params = params
            req.family = route.family
            result = route.handler(self, req)
            return result if isinstance(result, Response) else json_response(result)
        if req.path.startswith(SHARE_PREFIX):
            from .routes.shares import handle_public

            return handle_public(self, req)
        if req.method in ("GET", "HEAD"):
            resp = self.static.respond(req.path, req.header("If-None-Match"),
                                       accept_encoding=req.header("Accept-Encoding") or "",
                                       query=req.query_string)
            if resp is not None:
                return resp
        raise NotFound("NOT_FOUND", "Not found")

    def log_access(self, req: Request, status: int, duration_ms: float) -> None:
        if not (req.path.startswith("/api/")) or req.path in _QUIET_PATHS:
            return
        self.log.info("http", "response", requestId=req.request_id, method=req.method,
                      path=req.path[:200], status=status, durationMs=int(duration_ms),
                      client=client_kind(req))

    def openapi_document(self) -> Dict[str, Any]:
        """The OpenAPI document of this App's routes, served at this App's URL."""
        from .openapi import build

        return build(self.server_url)

    # --- small helpers for services ---------------------------------------------------------
    def json_limit(self) -> int:
        return self.config.body_limit


def _boot_routes() -> List[Tuple[Any, ...]]:
    from .routes.system import ROUTES

    return list(ROUTES)


def client_kind(req: Request) -> str:
    """Who sent a request, for the access log: ``cli`` (ima2's CLI says so), ``ui`` (a
    browser: it sends Fetch Metadata, an Origin or a Referer) or ``api`` (curl, scripts,
    ima2-gen clients)."""
    declared = (req.header("X-Ima2-Client") or "").strip().lower()
    if declared.startswith("cli"):
        return "cli"
    if declared.startswith("ui"):
        return "ui"
    if req.header("Sec-Fetch-Site") or req.header("Sec-Fetch-Mode") or req.header("Origin") \
            or req.header("Referer"):
        return "ui"
    return "api"


def _uuid4() -> str:
    """``str(uuid.uuid4())`` without importing uuid (it pulls in platform: ~4 ms at start)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.hex()
    return "%s-%s-%s-%s-%s" % (text[:8], text[8:12], text[12:16], text[16:20], text[20:])


def _url_port(url: str, fallback: int) -> int:
    match = re.match(r"^[a-z]+://(\[[^\]]+\]|[^/:]+)(?::(\d+))?", url.strip(), re.I)
    if match and match.group(2):
        return int(match.group(2))
    return fallback


def write_secret_text(path: str, text: str, fsync: bool = True) -> None:
    atomic_write(path, (text + "\n").encode("utf-8"), mode=0o600, fsync=fsync)
