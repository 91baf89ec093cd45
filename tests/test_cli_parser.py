"""The one CLI parser (cli_args.py): every command is an argparse subcommand built from one
table; the ``serve`` fast path (no argparse import on a cold start) is derived from the same
rows and agrees with argparse wherever it answers."""
from __future__ import annotations

import pytest

from ima2_lib import cli_args, cli_commands
from ima2_lib.cli_args import COMMANDS, SERVE_FLAGS, Usage, build_parser, parse_client

SERVE_LINES = [
    [], ["--port", "0"], ["--port=5"], ["--port", " 7"], ["--host", "::1", "--dev"],
    ["--config-dir", "/a b", "--no-oauth-proxy", "--offline"], ["--offline", "--port", "9"],
    ["--port", "1", "--port", "2"], ["--host=0.0.0.0", "--config-dir=/x=y"],
    # (the lines above are the usual ones: USUAL)
    # argparse's business (the fast path must step aside, never answer differently):
    ["--po", "7"], ["--offl"], ["--port", "x"], ["--dev=1"], ["--bogus"], ["-h"],
    ["--port"], ["--host", "--dev"], ["--port", "-1"],
]
USUAL = 9


@pytest.mark.parametrize("argv", SERVE_LINES, ids=[" ".join(a) or "(none)" for a in SERVE_LINES])
def test_serve_fast_path_agrees_with_argparse(argv):
    simple = cli_args.parse_simple(argv, SERVE_FLAGS)
    try:
        full = vars(cli_args.command_parser("serve").parse_args(argv))
    except SystemExit:
        full = None  # an error or --help: argparse's answer
    if simple is not None:
        assert vars(simple) == full
    if SERVE_LINES.index(argv) < USUAL:
        assert simple is not None, argv  # the usual lines skip argparse


def test_every_command_is_a_subcommand_of_one_argparse_tree():
    top = build_parser()
    sub = next(a for a in top._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)
    ns = top.parse_args(["serve", "--port", "0", "--offline"])
    assert (ns.command, ns.port, ns.provider) == ("serve", 0, "offline")
    ns = top.parse_args(["doctor", "--routes"])
    assert ns.command == "doctor" and ns.routes is True
    assert set(cli_commands.COMMANDS) == set(cli_args.CLIENT_COMMANDS)


def test_client_options_words_and_given():
    opts, args = parse_client("gen", ["a", "-n", "2", "b", "--ref", "x.png", "--ref=y.png",
                                      "--json", "-5"])
    assert args == ["a", "b", "-5"]
    assert opts["count"] == "2" and opts["ref"] == ["x.png", "y.png"] and opts["json"] is True
    assert opts["quality"] == "low" and opts["out-dir"] is None and opts["no-save"] is False
    assert opts["_given"] == {"count", "ref", "json"}
    opts, args = parse_client("tag", ["f1", "--add", "t", "f2", "--", "--not-a-flag"])
    assert args == ["f1", "f2", "--not-a-flag"] and opts["add"] == ["t"]
    assert opts["remove"] == [] and opts["help"] is False


@pytest.mark.parametrize("argv,message", [
    (["x", "--bogus"], "unknown option --bogus"),
    (["x", "-n"], "option --count needs a value"),
    (["x", "--cou", "2"], "unknown option --cou"),  # no abbreviations for client commands
])
def test_client_usage_errors(argv, message):
    with pytest.raises(Usage) as info:
        parse_client("gen", argv)
    assert str(info.value) == message


def test_a_usual_serve_line_does_not_import_argparse():
    import subprocess
    import sys

    from helpers import ROOT

    code = ("import sys; sys.path.insert(0, sys.argv[1]); from ima2_lib import cli; "
            "o = cli._parse_serve(['--port', '0', '--offline']); "
            "from ima2_lib.cli_client import live_server_from_advertisement; "
            "from ima2_lib.app import App; from ima2_lib.server import make_server; "
            "print(o.port, o.provider, 'argparse' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code, ROOT], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.split() == ["0", "offline", "False"], proc.stderr
