"""Command line: ``serve`` and the local commands (doctor, status, open, reset, setup/login).

Owns: top-level dispatch (docs/API.md §16.1), the ``serve`` lifecycle (refuse a second server on
one state folder, bind with port fallback, advertise, stop cleanly on SIGINT/SIGTERM/SIGHUP)
and the local commands. Client commands that talk HTTP live in ``cli_client.py``.
Must not: prompt when stdin is not a TTY, or make network calls of its own during ``serve``.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from . import __version__

if TYPE_CHECKING:
    from .app import App

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
    from .cli_args import COMMANDS

    spec = COMMANDS.get(command)
    if spec is None:
        out('  Unknown command: "%s"' % command)
        out("  Run `python3 ima2.py --help` for the list of commands.")
        return 1
    try:
        if spec.client:
            from . import cli_commands

            return cli_commands.main(command, args[1:])
        if not spec.flags and any(a in ("-h", "--help") for a in args[1:]):
            out(HELP % __version__)  # status / open / reset: the overview is their help
            return 0
        return LOCAL_COMMANDS[command](args[1:])
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
    from .cli_args import parse_local
    from .doctor import run_doctor

    return run_doctor(parse_local("doctor", argv), out, err)


# --------------------------------------------------------------------------------------
# serve
# --------------------------------------------------------------------------------------
def _parse_serve(argv: List[str]) -> Any:
    from .cli_args import parse_serve

    return parse_serve(argv)


def cmd_serve(argv: List[str]) -> int:
    from .app import App
    from .config import ConfigError
    from .cli_client import live_server_from_advertisement
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
    # services built by app.start, after the first answer; serve owns its process
    app = App(config, build_services=False, owns_process=True)
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
    from .cli_client import open_url

    if open_url(url):
        out("Opening %s ..." % url)
    else:
        out("Could not open browser. Visit: %s" % url)
    return 0


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
    from .cli_args import parse_local

    opts = parse_local("setup", argv)
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
    from .cli_args import parse_local
    from .mcp_server import main as mcp_main

    return mcp_main(parse_local("mcp", argv))


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
