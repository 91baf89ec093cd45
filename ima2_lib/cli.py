"""Command line: ``serve`` and the local commands (doctor, status, open, reset, setup/login).

Owns: top-level dispatch (docs/API.md §16.1), the ``serve`` lifecycle (refuse a second server on
one state folder, bind with port fallback, advertise, stop cleanly on SIGINT/SIGTERM/SIGHUP)
and the local commands. Client commands that talk HTTP live in ``cli_client.py``.
Must not: prompt when stdin is not a TTY, or make network calls of its own during ``serve``.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from . import __version__

if TYPE_CHECKING:
    from .app import App

CLIENT_COMMANDS = ("gen", "edit", "ls", "show", "ps", "cancel", "ping", "history", "session",
                   "node", "inflight", "storage", "oauth", "batch", "fav", "unfav", "tag",
                   "export", "import", "prompt", "share")

HELP = """ima2 %s — local image studio

Usage: python3 ima2.py <command> [options]

Server commands:
  serve [--port N] [--host H] [--config-dir DIR] [--no-oauth-proxy] [--dev] [--offline]
                       start the studio (default http://127.0.0.1:3333; --offline: no
                       account, deterministic local pictures)
  setup | login        choose OAuth (Codex login) or store an API key (--oauth / --api-key K)
  status               configuration and Codex login state
  doctor [--routes] [--migrate] [--openapi FILE] [--config-dir DIR]
                       check Python, optional features, settings and their sources, storage
  mcp [--embedded] [--print-config claude|codex|cursor|vscode]
                       MCP server on stdio for agents (tools: generate_image, edit_image, ...)
  open                 open the running studio in a browser
  reset                reset config.json to {}

Client commands (talk to a running server):
  gen <prompt>         generate images          edit <file> --prompt P   edit an image
  ls [-n N]            list recent images       show <name>              one image's details
  ps                   running jobs             cancel <requestId>       cancel a job
  ping                 is the server up?        node <prompt> [--parent ID]
  history rm|restore   session ls|new|rename|rm|show
  storage status       oauth status             inflight                 (alias of ps)
  batch FILE.jsonl|FILE.csv --out-dir DIR      a prompt file into a folder (resumable)
  ls --fav --tag T --search Q --model M         filtered listing (on the server)
  fav|unfav FILE...    favourite or not         tag FILE... --add T --remove T
  export [FILE...|--session ID|--fav...] -o FILE.zip    import FILE.zip|FOLDER
  prompt ls|save|show|rm   saved prompts (presets; `gen --preset NAME` uses one)
  share FILE... | --session ID [--expires 24h]  a read-only share link (prints the URL)

Options:
  -v, --version        version, Python, optional features and the state folder
  -h, --help           this help (or `<command> --help`)

Examples:
  python3 ima2.py serve
  python3 ima2.py gen "a shiba in space" -n 2 --out-dir out
  curl -s http://127.0.0.1:3333/api/health
"""


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `ima2.py doctor | head`: the reader left, nothing to report
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0


def _main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        out(HELP % __version__)
        return 1
    command = args[0]
    if command in ("-v", "--version"):
        return cmd_version()
    if command in ("-h", "--help", "help"):
        out(HELP % __version__)
        return 0
    if command in CLIENT_COMMANDS:
        from . import cli_commands

        try:
            return cli_commands.main(command, args[1:])
        except KeyboardInterrupt:
            return 130
    handler = LOCAL_COMMANDS.get(command)
    if handler is not None and command not in ("serve", "setup", "login", "doctor", "mcp") and any(
            a in ("-h", "--help") for a in args[1:]):
        out(HELP % __version__)
        return 0
    if handler is None:
        out('  Unknown command: "%s"' % command)
        out("  Run `python3 ima2.py --help` for the list of commands.")
        return 1
    try:
        return handler(args[1:])
    except KeyboardInterrupt:
        return 130


# --------------------------------------------------------------------------------------
# version / doctor
# --------------------------------------------------------------------------------------
def _load(flags: Optional[Dict[str, Any]] = None) -> Any:
    from .config import load_config

    return load_config(flags=flags)


def cmd_version() -> int:
    from .deps import Features

    config = _safe_config()
    out("ima2 %s" % __version__)
    out("Python %s (%s)" % (sys.version.split()[0], sys.executable))
    features = Features(os.environ)
    for name, ok, detail, what, install in features.table():
        mark = "yes" if ok else "off" if features.switched_off(name) else "no "
        line = "  %-8s %s  %s — %s" % (name, mark, detail, what)
        if not ok:
            line += "  (%s: %s)" % ("to use it" if features.switched_off(name) else "install",
                                    install)
        out(line)
    if config is not None:
        out("State folder: %s" % config.config_dir)
    return 0


def _safe_config(flags: Optional[Dict[str, Any]] = None) -> Any:
    from .config import ConfigError

    try:
        return _load(flags)
    except ConfigError as exc:
        err("Configuration error: %s" % exc)
        return None


def cmd_doctor(argv: List[str]) -> int:
    from .doctor import run_doctor

    return run_doctor(argv, out, err)


# --------------------------------------------------------------------------------------
# serve
# --------------------------------------------------------------------------------------
_SERVE_VALUES = {"--port": "port", "--host": "host", "--config-dir": "config_dir"}
_SERVE_FLAGS = {"--no-oauth-proxy": ("no_oauth_proxy", True), "--dev": ("dev", True),
                "--offline": ("provider", "offline")}


def _parse_serve_simple(argv: List[str]) -> Any:
    """The usual ``serve`` command lines without importing argparse (~3 ms of a cold start,
    issue 19); None for anything else (help, abbreviations, errors), which argparse handles."""
    import types

    opts = {"port": None, "host": None, "config_dir": None, "no_oauth_proxy": None, "dev": None,
            "provider": None}
    tokens = list(argv)
    while tokens:
        token = tokens.pop(0)
        name, eq, value = token.partition("=")
        if name in _SERVE_FLAGS and not eq:
            key, flag_value = _SERVE_FLAGS[name]
            opts[key] = flag_value
            continue
        if name not in _SERVE_VALUES:
            return None
        if not eq:
            if not tokens or tokens[0].startswith("-"):
                return None
            value = tokens.pop(0)
        if name == "--port":
            try:
                opts["port"] = int(value)
            except ValueError:
                return None
        else:
            opts[_SERVE_VALUES[name]] = value
    return types.SimpleNamespace(**opts)


def _parse_serve(argv: List[str]) -> Any:
    simple = _parse_serve_simple(argv)
    if simple is not None:
        return simple
    import argparse

    parser = argparse.ArgumentParser(prog="ima2.py serve", description="Start the ima2 studio.")
    parser.add_argument("--port", type=int, help="HTTP port (busy → next free, up to +20)")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--config-dir", help="state folder (default ~/.ima2)")
    parser.add_argument("--no-oauth-proxy", action="store_true", default=None,
                        help="do not start `npx openai-oauth`")
    parser.add_argument("--dev", action="store_true", default=None,
                        help="developer mode (debug log, static files re-read)")
    parser.add_argument("--offline", action="store_const", const="offline", default=None,
                        dest="provider", help="no account needed: deterministic local pictures "
                        "instead of the OAuth proxy (IMA2_PROVIDER=offline)")
    return parser.parse_args(argv)


def live_server_from_advertisement(path: str, timeout: float = 1.0) -> Optional[Dict[str, Any]]:
    """The advertised server when its pid is alive and its /api/health answers with that pid."""
    from .store import read_json

    data = read_json(path, default=None, warn=lambda _m: None)
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    pid = data["pid"]
    if pid == os.getpid() or not _pid_alive(pid):
        return None
    backend = data.get("backend") if isinstance(data.get("backend"), dict) else {}
    url = backend.get("url") or data.get("url")
    if not isinstance(url, str):
        return None
    health = _probe_health(url, timeout)
    if health is None or health.get("pid") != pid:
        return None
    return {"url": url, "pid": pid}


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _probe_health(url: str, timeout: float) -> Optional[Dict[str, Any]]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return None
    host = parts.hostname
    if host in ("localhost", "0.0.0.0", "::"):
        host = "127.0.0.1"
    try:
        conn = http.client.HTTPConnection(host, parts.port or 80, timeout=timeout)
        conn.request("GET", "/api/health", headers={"X-Ima2-Client": "cli/" + __version__})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status != 200:
            return None
        data = json.loads(body.decode("utf-8"))
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def cmd_serve(argv: List[str]) -> int:
    from .app import App
    from .config import ConfigError
    from .server import PortRangeExhausted, make_server

    opts = _parse_serve(argv)
    flags = {"port": opts.port, "host": opts.host, "config_dir": opts.config_dir,
             "no_oauth_proxy": opts.no_oauth_proxy, "dev": opts.dev, "provider": opts.provider}
    try:
        config = _load(flags)
    except ConfigError as exc:
        err("Configuration error: %s" % exc)
        return 2
    for warning in config.warnings:
        err("[config] %s" % warning)
    running = live_server_from_advertisement(config.advertise_file)
    if running:
        err("ima2 is already running at %s (pid %d) for %s"
            % (running["url"], running["pid"], config.config_dir))
        err("Stop it first, or give this one its own state folder (--config-dir / "
            "IMA2_CONFIG_DIR).")
        out(running["url"])
        return 1
    app = App(config, build_services=False)  # built by app.start, after the first answer
    if not app.owns_folder:  # the OS lock decides; server.json may not be written yet
        running = live_server_from_advertisement(config.advertise_file, timeout=2.0)
        err("ima2 is already running for %s%s (its state-folder lock is held)"
            % (config.config_dir, (" at %s (pid %d)" % (running["url"], running["pid"]))
               if running else ""))
        err("Stop it first, or give this one its own state folder (--config-dir / "
            "IMA2_CONFIG_DIR).")
        if running:
            out(running["url"])
        app.stop()
        return 1
    try:
        server = make_server(app, config.host, config.port, fallback=20 if config.port else 0)
    except PortRangeExhausted as exc:
        err("[server.port] %s (PORT_RANGE_EXHAUSTED); set IMA2_PORT or --port" % exc.strerror)
        return 1
    except OSError as exc:
        err("Cannot listen on %s:%s: %s" % (config.host, config.port, exc.strerror or exc))
        return 1
    actual = int(server.server_address[1])
    if config.port and actual != config.port:
        app.log.say("[server.port] requested=%d actual=%d reason=EADDRINUSE"
                    % (config.port, actual))
    app.set_actual_port(actual)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"):
        if hasattr(signal, name):
            try:
                signal.signal(getattr(signal, name), on_signal)
            except (OSError, ValueError):
                pass
    # Answer first (issue 19): the health probe is served while services start (their
    # first-run writes and fsyncs are not on its path); other requests wait for app.start.
    app.hold_requests()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="ima2-http", daemon=True)
    thread.start()
    try:
        app.start(server)
        app.write_advertisement()
        _print_banner(app)
        while not stop.wait(0.5):
            if not thread.is_alive():
                break
    finally:
        app.stop()
        server.shutdown()
        server.server_close()
    app.log.say("ima2 stopped.")
    return 0


def _print_banner(app: App) -> None:
    url = app.server_url
    app.log.say("ima2 running at %s" % url)
    runtime = app.runtime_snapshot()
    if app.provider == "offline":
        app.log.say("Offline provider: images are deterministic local pictures marked "
                    "provider \"offline\" (no account, no network).")
    else:
        app.log.say("Images are generated through the OAuth proxy at %s (API keys are never "
                    "used for images)." % runtime["oauth"]["url"])
    if app.security.token_required:
        if app.token_generated:
            app.log.say("Access token created (%s). Open this link once to sign this browser in:"
                        % app.token_file)
            app.log.say("  %s/?token=%s" % (url, app.security.token))
        else:
            app.log.say("Access token required: 'Authorization: Bearer <token>' (IMA2_TOKEN or "
                        "%s); browsers: open %s/?token=<token> once." % (app.token_file, url))


# --------------------------------------------------------------------------------------
# status / open / reset / setup
# --------------------------------------------------------------------------------------
def _read_user_config(config: Any) -> Dict[str, Any]:
    from .store import read_json

    data = read_json(config.config_json_path, default=None, warn=lambda m: err("[config] " + m))
    return data if isinstance(data, dict) else {}


def _write_user_config(config: Any, data: Dict[str, Any]) -> None:
    from .store import ensure_private_dir, write_json

    ensure_private_dir(config.config_dir)
    write_json(config.config_json_path, data, mode=0o600, pretty=True)


def _mask(key: str) -> str:
    return key[:8] + "..." + key[-4:] if len(key) > 12 else "****"


def cmd_status(argv: List[str]) -> int:
    from . import codex

    config = _safe_config()
    if config is None:
        return 1
    path = config.config_json_path
    out("ima2 v%s" % __version__)
    out("Config:  %s" % path)
    out("Exists:  %s" % ("yes" if os.path.isfile(path) else "no"))
    data = _read_user_config(config)
    provider = data.get("provider")
    if provider:
        out("Provider: %s" % provider)
        if provider == "api":
            key = data.get("apiKey")
            out("API key: %s" % (_mask(key) if isinstance(key, str) and key else "not set"))
    else:
        out("Provider: not set (images use the OAuth proxy anyway; `setup` is optional)")
    info = codex.detect(config.env)
    out("OAuth sessions:")
    labels = {"codex": "Codex auth file", "chatgpt": "chatgpt-local auth file",
              "xdgCodex": "XDG Codex auth file"}
    for name, hit in info["fileHits"].items():
        if name == "xdgCodex" and not hit:
            continue
        out("  %s %s (%s)" % ("✓" if hit else "✗", labels[name], info["files"][name]))
    probe = {"authed": "✓ authed", "unauthed": "✗ not logged in",
             "missing": "– codex CLI not found"}.get(info["probe"], info["probe"])
    out("  codex login status: %s" % probe)
    return 0


def cmd_open(argv: List[str]) -> int:
    config = _safe_config()
    url = None
    if config is not None:
        from .store import read_json

        data = read_json(config.advertise_file, default=None, warn=lambda _m: None)
        if isinstance(data, dict):
            backend = data.get("backend") if isinstance(data.get("backend"), dict) else {}
            url = backend.get("url") or data.get("url") or (
                "http://localhost:%s" % data["port"] if data.get("port") else None)
        if not url:
            url = "http://localhost:%d" % config.port
    else:
        url = "http://localhost:3333"
    if open_url(url):
        out("Opening %s ..." % url)
    else:
        out("Could not open browser. Visit: %s" % url)
    return 0


def open_url(url: str) -> bool:
    """Open ``url`` with the stdlib ``webbrowser`` (no shell strings, docs/API.md §19.7)."""
    if not url.startswith(("http://", "https://")):
        return False
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        import webbrowser

        return bool(webbrowser.open(url))
    except Exception:  # noqa: BLE001 - no browser is not an error
        return False


def cmd_reset(argv: List[str]) -> int:
    config = _safe_config()
    if config is None:
        return 1
    if os.path.isfile(config.config_json_path):
        _write_user_config(config, {})
        out("Config reset: %s now holds {}" % config.config_json_path)
    else:
        out("No config to reset.")
    return 0


def cmd_setup(argv: List[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="ima2.py setup",
                                     description="Choose how ima2 authenticates.")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--oauth", action="store_true", help="use the Codex/ChatGPT login")
    group.add_argument("--api-key", metavar="KEY",
                       help="store an OpenAI API key (billing and style sheets only)")
    opts = parser.parse_args(argv)
    config = _safe_config()
    if config is None:
        return 1
    choice = None
    if opts.oauth:
        choice = "2"
    elif opts.api_key is not None:
        choice = "1"
    elif sys.stdin.isatty():
        out("How should ima2 authenticate?")
        out("  1) API Key (billing and style-sheet extraction only)")
        out("  2) OAuth (Codex / ChatGPT login — image generation)")
        choice = input("Choose [1/2]: ").strip()
    else:
        err("stdin is not a terminal: pass --oauth or --api-key KEY")
        return 2
    data = _read_user_config(config)
    if choice == "1":
        key = opts.api_key if opts.api_key is not None else input("API key: ")
        key = key.strip()
        if not key.startswith("sk-"):
            err("✗ API keys start with 'sk-'")
            return 1
        data.update({"provider": "api", "apiKey": key})
        _write_user_config(config, data)
        out("✓ API key saved to %s (mode 0600)" % config.config_json_path)
    else:
        from . import codex

        data["provider"] = "oauth"
        data.pop("apiKey", None)
        _write_user_config(config, data)
        info = codex.detect(config.env)
        if info["authed"]:
            source = "codex CLI" if info["probe"] == "authed" else "auth file"
            out("✓ Codex login found (%s)" % source)
        else:
            out("No ChatGPT login found. Sign in with:  npx openai-oauth login")
            if sys.stdin.isatty() and not opts.oauth:
                answer = input("Run it now? [Y/n] ").strip().lower()
                if answer in ("", "y", "yes"):
                    import subprocess

                    try:
                        code = subprocess.call(["npx", config.oauth_package, "login"])
                    except OSError:
                        code = 1
                    if code != 0:
                        err("Login failed; run `npx openai-oauth login` and try again.")
                        return 1
        out("✓ OAuth configured")
    out("  Done. Run 'python3 ima2.py serve' to start.")
    return 0


def cmd_mcp(argv: List[str]) -> int:
    from .mcp_server import main as mcp_main

    return mcp_main(argv)


LOCAL_COMMANDS = {
    "serve": cmd_serve,
    "mcp": cmd_mcp,
    "doctor": cmd_doctor,
    "status": cmd_status,
    "open": cmd_open,
    "reset": cmd_reset,
    "setup": cmd_setup,
    "login": cmd_setup,
}
