"""The command line's one parser: every command's flags as data, built into argparse.

Owns: ``Flag`` rows per command (``COMMANDS``: flags, usage line, client or local), the
argparse parser of each command and the whole tree (``build_parser``: one subcommand per
command, the same parser each command is parsed with), the client commands' usage errors
(``Usage``: exit 2, rendered by the caller so ``--json`` still prints one document) and the
no-argparse fast path for the usual ``serve`` lines, derived from the same ``serve`` rows
(``parse_serve``; importing argparse costs a cold start a few milliseconds).
Must not: import the server side or anything that talks HTTP (``serve`` imports this first).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

if TYPE_CHECKING:
    import argparse

    _Target = Union[argparse.ArgumentParser, argparse._MutuallyExclusiveGroup]


class Usage(Exception):
    """A usage error: exit 2 before anything is sent."""


class Flag:
    """One option. ``kind``: ``str`` (a value), ``int`` (a value read as an integer),
    ``bool`` (present or not), ``const`` (present → ``const``). ``name`` is the long option
    without dashes and the key the command reads (``opts["out-dir"]``) unless ``dest`` says
    otherwise; ``repeatable`` values collect in a list."""

    def __init__(self, name: str, short: Optional[str] = None, kind: str = "str",
                 default: Any = None, repeatable: bool = False, help: Optional[str] = None,
                 dest: Optional[str] = None, const: Any = None, metavar: Optional[str] = None,
                 choices: Optional[Sequence[str]] = None, group: Optional[str] = None) -> None:
        self.name, self.short, self.kind = name, short, kind
        self.default, self.repeatable = default, repeatable
        self.help, self.dest, self.const, self.metavar = help, dest or name, const, metavar
        self.choices, self.group = choices, group

    def add_to(self, parser: _Target, default: Any) -> None:
        names = ["--" + self.name] + (["-" + self.short] if self.short else [])
        kw: Dict[str, Any] = {"dest": self.dest, "default": default, "help": self.help}
        if self.kind == "bool":
            kw["action"] = "store_true"
        elif self.kind == "const":
            kw.update(action="store_const", const=self.const)
        else:
            kw["action"] = "append" if self.repeatable else "store"
            if self.kind == "int":
                kw["type"] = int
            if self.metavar:
                kw["metavar"] = self.metavar
            if self.choices:
                kw["choices"] = self.choices
        parser.add_argument(*names, **kw)


class Command:
    """A command: its flags, its usage line (client commands print it for ``--help``) and
    its description; ``client`` commands talk to a running server over HTTP."""

    def __init__(self, flags: Sequence[Flag], usage: str = "", description: str = "",
                 client: bool = True, positionals: bool = True) -> None:
        self.flags, self.usage, self.description = list(flags), usage, description
        self.client, self.positionals = client, positionals


# --------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------
# Every client command also takes these (docs/API.md §16.2).
COMMON = [Flag("server"), Flag("json", kind="bool", default=False),
          Flag("help", "h", "bool", False)]

GEN_FLAGS = [Flag("quality", "q", default="low"), Flag("size", "s", default="1024x1024"),
             Flag("format", "f"), Flag("count", "n", default="1"),
             Flag("ref", repeatable=True), Flag("out", "o"), Flag("out-dir", "d"),
             Flag("no-save", kind="bool", default=False), Flag("stdout", kind="bool",
                                                               default=False),
             Flag("force", kind="bool", default=False), Flag("stdin", kind="bool", default=False),
             Flag("timeout", default="180"), Flag("model"), Flag("mode", default="auto"),
             Flag("moderation", default="low"), Flag("session"), Flag("preset")]
NODE_FLAGS = [f for f in GEN_FLAGS if f.name in (
    "quality", "size", "format", "ref", "out", "force", "timeout", "model", "mode",
    "moderation", "session")] + [Flag("parent")]
PS_FLAGS = [Flag("kind"), Flag("session"), Flag("terminal", kind="bool", default=False)]

SERVE_FLAGS = [
    Flag("port", kind="int", help="HTTP port (busy → next free, up to +20)"),
    Flag("host", help="bind address (default 127.0.0.1)"),
    Flag("config-dir", dest="config_dir", help="state folder (default ~/.ima2)"),
    Flag("no-oauth-proxy", kind="bool", dest="no_oauth_proxy",
         help="do not start `npx openai-oauth`"),
    Flag("dev", kind="bool", help="developer mode (debug log, static files re-read)"),
    Flag("offline", kind="const", const="offline", dest="provider",
         help="no account needed: deterministic local pictures instead of the OAuth proxy "
              "(IMA2_PROVIDER=offline)"),
]

_PS_USAGE = "ps [--kind classic|node] [--session ID] [--terminal] [--json] [--server URL]"

COMMANDS: Dict[str, Command] = {
    "gen": Command(GEN_FLAGS, "gen <prompt> [-q low|medium|high] [-s WxH] [-f png|jpeg|webp] "
                   "[-n 1..8] [--ref FILE]... [-o FILE | -d DIR | --stdout | --no-save] "
                   "[--model ID] [--mode auto|direct] [--moderation auto|low] [--session ID] "
                   "[--stdin] [--force] [--timeout S] [--preset NAME|ID] [--json] "
                   "[--server URL]"),
    "edit": Command([Flag("prompt", "p"), Flag("quality", "q", default="low"),
                     Flag("size", "s", default="1024x1024"), Flag("out", "o"),
                     Flag("timeout", default="180"), Flag("model"), Flag("mode", default="auto"),
                     Flag("moderation", default="low"), Flag("session"),
                     Flag("force", kind="bool", default=False)],
                    "edit <file> --prompt TEXT [-q Q] [-s WxH] [-o FILE] [--model ID] "
                    "[--mode M] [--moderation M] [--session ID] [--force] [--timeout S] "
                    "[--json] [--server URL]"),
    "node": Command(NODE_FLAGS, "node <prompt> [--parent NODE_ID] [--session ID] [-q Q] "
                    "[-s WxH] [-f FORMAT] [--ref FILE]... [-o FILE] [--model ID] [--mode M] "
                    "[--moderation M] [--json]"),
    "ls": Command([Flag("count", "n", default="20"), Flag("session"),
                   Flag("fav", kind="bool", default=False), Flag("tag"), Flag("search"),
                   Flag("model")],
                  "ls [-n COUNT] [--session ID] [--fav] [--tag T] [--search Q] [--model M] "
                  "[--json] [--server URL]"),
    "show": Command([Flag("reveal", kind="bool", default=False)],
                    "show <name> [--json] [--reveal] [--server URL]"),
    "ps": Command(PS_FLAGS, _PS_USAGE),
    "inflight": Command(PS_FLAGS, _PS_USAGE.replace("ps", "inflight", 1)),
    "cancel": Command([], "cancel <requestId or a unique start of it> [--json] [--server URL]"),
    "ping": Command([], "ping [--json] [--server URL]"),
    "history": Command([Flag("trash-id")], "history rm <filename> | history restore <filename> "
                       "[--trash-id ID]  [--json]"),
    "session": Command([], "session ls | new [TITLE] | rename <id> <title> | rm <id> | "
                       "show <id>  [--json]"),
    "storage": Command([], "storage status [--json] [--server URL]"),
    "oauth": Command([], "oauth status [--json] [--server URL]"),
    "batch": Command([Flag("out-dir", "d")],
                     "batch <prompts.jsonl|prompts.csv> --out-dir DIR [--json] [--server URL]"),
    "fav": Command([], "fav FILE... [--json] [--server URL]"),
    "unfav": Command([], "unfav FILE... [--json] [--server URL]"),
    "tag": Command([Flag("add", repeatable=True), Flag("remove", repeatable=True)],
                   "tag FILE... [--add TAG]... [--remove TAG]... [--json] [--server URL]"),
    "export": Command([Flag("out", "o"), Flag("session"), Flag("fav", kind="bool", default=False),
                       Flag("tag"), Flag("search"), Flag("model"),
                       Flag("force", kind="bool", default=False)],
                      "export [FILE...] [--session ID] [--fav] [--tag T] [--search Q] "
                      "[--model M] -o FILE.zip [--force] [--json] [--server URL]"),
    "import": Command([], "import FILE.zip|FOLDER [--json] [--server URL]"),
    "prompt": Command([Flag("search"), Flag("quality", "q"), Flag("size", "s"),
                       Flag("format", "f"), Flag("count", "n"), Flag("model"), Flag("mode"),
                       Flag("moderation"), Flag("tag", repeatable=True)],
                      "prompt ls [--search Q] | save NAME PROMPT... [-q Q] [-s WxH] [-f F] "
                      "[-n N] [--model ID] [--mode M] [--moderation M] [--tag T]... | "
                      "show NAME|ID | rm NAME|ID  [--json]"),
    "share": Command([Flag("session"), Flag("expires"),
                      Flag("show-prompts", kind="bool", default=False)],
                     "share FILE... | share --session ID  [--expires 24h] [--show-prompts] "
                     "[--json]"),
    # Local commands (no server needed). argparse's own help and errors (exit 2).
    "serve": Command(SERVE_FLAGS, description="Start the ima2 studio.", client=False,
                     positionals=False),
    "setup": Command([Flag("oauth", kind="bool", group="auth",
                           help="use the Codex/ChatGPT login"),
                      Flag("api-key", dest="api_key", metavar="KEY", group="auth",
                           help="store an OpenAI API key (billing and style sheets only)")],
                     description="Choose how ima2 authenticates.", client=False,
                     positionals=False),
    "doctor": Command([Flag("routes", kind="bool", default=False,
                            help="print the API route table"),
                       Flag("config-dir", dest="config_dir",
                            help="state folder to check (default ~/.ima2, or IMA2_CONFIG_DIR)"),
                       Flag("migrate", kind="bool", default=False,
                            help="copy images from old ima2-gen folders (never overwrites)"),
                       Flag("openapi", metavar="FILE",
                            help="write the OpenAPI 3.1 document of the HTTP API to FILE "
                                 "(- = stdout)")],
                      description="Check this install.", client=False, positionals=False),
    "mcp": Command([Flag("server", help="URL of a running ima2 (default: IMA2_SERVER, then "
                                        "server.json, then the configured port)"),
                    Flag("embedded", kind="bool", default=False,
                         help="run an ima2 App of its own (loopback, port 0) on the state "
                              "folder"),
                    Flag("offline", kind="bool", default=False,
                         help="with --embedded: the offline provider (no account needed)"),
                    Flag("config-dir", dest="config_dir",
                         help="state folder for --embedded (default ~/.ima2)"),
                    Flag("print-config", dest="print_config",
                         choices=("claude", "codex", "cursor", "vscode"),
                         help="print the snippet a client needs to start this server, and "
                              "exit")],
                   description="Model Context Protocol server over stdio: tools to generate, "
                   "edit and browse images through ima2.", client=False, positionals=False),
    # No options: `-h` prints the top-level help, other words are ignored (as always).
    "status": Command([], client=False), "open": Command([], client=False),
    "reset": Command([], client=False),
}
COMMANDS["login"] = COMMANDS["setup"]
CLIENT_COMMANDS = tuple(name for name, command in COMMANDS.items() if command.client)
SIMPLE_COMMANDS = ("status", "open", "reset")


# --------------------------------------------------------------------------------------
# Building parsers
# --------------------------------------------------------------------------------------
def _parser_class() -> Any:
    import argparse

    class Parser(argparse.ArgumentParser):
        """argparse, except that a client command's errors become ``Usage`` (the caller
        renders them, --json aware) in the wording the CLI has always used."""

        usage_errors = False

        def error(self, message: str) -> Any:  # type: ignore[override]
            if not self.usage_errors:
                return super().error(message)
            if message.startswith("unrecognized arguments: "):
                words = message.split(": ", 1)[1].split(" ")
                message = "unknown option " + next((w for w in words if w.startswith("-")),
                                                   words[0])
            elif message.endswith(": expected one argument"):
                message = "option %s needs a value" % message[9:].split("/")[0].split(":")[0]
            raise Usage(message)

    return Parser


def _populate(parser: argparse.ArgumentParser, command: Command) -> argparse.ArgumentParser:
    import argparse

    parser.usage_errors = command.client
    groups: Dict[str, Any] = {}
    flags = command.flags + (COMMON if command.client else [])
    for flag in flags:
        target = parser
        if flag.group:
            if flag.group not in groups:
                groups[flag.group] = parser.add_mutually_exclusive_group()
            target = groups[flag.group]
        # Client commands learn which flags were written (a preset fills the others):
        # nothing is stored for an absent flag, defaults are filled in by ``parse_client``.
        flag.add_to(target, argparse.SUPPRESS if command.client else
                    ([] if flag.repeatable else flag.default))
    if command.client:
        parser.add_argument("args", nargs="*", default=[], help=argparse.SUPPRESS)
    return parser


def _options(name: str, command: Command) -> Dict[str, Any]:
    if command.client:
        return {"prog": "ima2.py " + name, "usage": "python3 ima2.py " + command.usage,
                "add_help": False, "allow_abbrev": False}
    return {"prog": "ima2.py " + name, "description": command.description or None,
            "add_help": name not in SIMPLE_COMMANDS}


def command_parser(name: str) -> Any:
    """The argparse parser of one command (the same one ``build_parser`` hangs under it)."""
    command = COMMANDS[name]
    return _populate(_parser_class()(**_options(name, command)), command)


def build_parser() -> Any:
    """The whole command line as one argparse tree: a subcommand per command."""
    parser = _parser_class()
    top = parser(prog="ima2.py", description="ima2 — local image studio", add_help=True)
    top.add_argument("-v", "--version", action="store_true", help="version and features")
    sub = top.add_subparsers(dest="command", metavar="<command>", parser_class=parser)
    for name, command in COMMANDS.items():
        _populate(sub.add_parser(name, help=command.usage or command.description or None,
                                 **_options(name, command)), command)
    return top


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------
def parse_client(name: str, argv: Sequence[str]) -> Tuple[Dict[str, Any], List[str]]:
    """``(opts, positional)`` of a client command: every flag of its table (written or
    default), ``opts["_given"]`` (the flags written on the command line); ``Usage`` on any
    error — an unknown option, a missing value. Options and words may be interleaved."""
    command = COMMANDS[name]
    namespace = command_parser(name).parse_intermixed_args(list(argv))
    values = vars(namespace)
    positional = list(values.pop("args", None) or [])
    opts: Dict[str, Any] = {}
    for flag in command.flags + COMMON:
        opts[flag.dest] = values[flag.dest] if flag.dest in values else (
            [] if flag.repeatable else flag.default)
    opts["_given"] = {flag.dest for flag in command.flags + COMMON if flag.dest in values}
    return opts, positional


def parse_local(name: str, argv: Sequence[str]) -> "argparse.Namespace":
    """A local command's options (argparse's own help and exit-2 errors)."""
    return command_parser(name).parse_args(list(argv))


def parse_serve(argv: Sequence[str]) -> Any:
    """``serve``'s options: the usual lines without importing argparse, else argparse."""
    simple = parse_simple(argv, SERVE_FLAGS)
    return simple if simple is not None else parse_local("serve", argv)


def parse_simple(argv: Sequence[str], flags: Sequence[Flag]) -> Any:
    """The options of ``argv`` for these ``flags`` when every word is a whole long option
    (``--name value``, ``--name=value``, a bool or const flag alone); None for anything else
    (help, abbreviations, short options, errors) — argparse answers those. Same results as
    argparse where it answers (tests/test_cli_parser.py)."""
    import types

    by_name = {"--" + f.name: f for f in flags}
    opts: Dict[str, Any] = {f.dest: ([] if f.repeatable else f.default) for f in flags}
    tokens = list(argv)
    while tokens:
        name, eq, value = tokens.pop(0).partition("=")
        flag = by_name.get(name)
        parsed = _NO if flag is None else _simple_value(flag, value if eq else None, tokens)
        if flag is None or parsed is _NO:
            return None
        if flag.repeatable:
            opts[flag.dest].append(parsed)
        else:
            opts[flag.dest] = parsed
    return types.SimpleNamespace(**opts)


_NO = object()  # "argparse must answer this one"


def _simple_value(flag: Flag, inline: Optional[str], tokens: List[str]) -> Any:
    """The value argparse would store for ``flag`` (``inline``: after ``=``; else the next
    token is taken when the flag needs one); ``_NO`` when unsure."""
    if flag.kind in ("bool", "const"):
        return _NO if inline is not None else True if flag.kind == "bool" else flag.const
    value = inline
    if value is None:
        if not tokens or tokens[0].startswith("-"):
            return _NO
        value = tokens.pop(0)
    if flag.kind == "int":
        try:
            return int(value)
        except ValueError:
            return _NO
    return _NO if flag.choices and value not in flag.choices else value
