"""One-off rewrite: ``ApiError(<literal status>, ...)`` → the outcome-named class.

Usage: ``python3 tests/tools/named_errors.py FILE...`` (e.g. ``$(git ls-files 'ima2_lib/*.py')``).
For a branch written against the old spelling: ``raise ApiError(404, "X", "...")`` becomes
``raise NotFound("X", "...")``, continuation lines are re-aligned and the ``errors`` import
is fixed. ``ApiError(status, code, message)`` keeps working, so running it is optional.
Not used at run time or by the tests.
"""
from __future__ import annotations

import ast
import re
import sys

NAMES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
         405: "MethodNotAllowed", 408: "RequestTimeout", 409: "Conflict",
         413: "PayloadTooLarge", 415: "UnsupportedMediaType", 416: "RangeNotSatisfiable", 422: "Unprocessable",
         428: "PreconditionRequired", 500: "InternalError", 502: "UpstreamFailure",
         503: "ServiceUnavailable", 504: "GatewayTimeout", 507: "InsufficientStorage"}
_IMPORT = re.compile(r"^from (\.+)errors import (\([^)]*\)|[^\n]*)$", re.M)


def _col(line: str, byte_col: int) -> int:
    return len(line.encode("utf-8")[:byte_col].decode("utf-8"))


def rewrite(source: str) -> str:
    tree = ast.parse(source)
    calls = [node for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
             and node.func.id == "ApiError" and node.args
             and isinstance(node.args[0], ast.Constant) and node.args[0].value in NAMES
             and len(node.args) >= 2]
    if not calls:
        return source
    lines = source.splitlines(True)
    used = set()
    for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset), reverse=True):
        name = NAMES[call.args[0].value]
        used.add(name)
        row = call.lineno - 1
        line = lines[row]
        start = _col(line, call.col_offset)
        second = call.args[1]
        if second.lineno - 1 != row:
            raise SystemExit("unsupported layout at line %d" % call.lineno)
        arg_start = _col(line, second.col_offset)
        old_paren = start + len("ApiError")
        lines[row] = line[:start] + name + "(" + line[arg_start:]
        delta = (start + len(name)) - old_paren  # lines aligned under the parenthesis
        arg_delta = (start + len(name) + 1) - arg_start  # lines aligned under an argument
        arg_columns = {_col(line, arg.col_offset) for arg in call.args[1:]
                       if arg.lineno - 1 == row}
        for other in range(row + 1, call.end_lineno):
            text = lines[other]
            indent = len(text) - len(text.lstrip(" "))
            if not text.strip() or indent < old_paren + 1:
                continue
            shift = arg_delta if indent in arg_columns else delta
            lines[other] = " " * max(0, indent + shift) + text.lstrip(" ")
    out = "".join(lines)
    match = _IMPORT.search(out)
    if match is None:
        raise SystemExit("no `from .errors import` line to extend")
    names = {n.strip() for n in match.group(2).strip("()").replace("\n", " ").split(",")
             if n.strip()}
    names |= used
    rest = out[:match.start()] + out[match.end():]
    if not re.search(r"\bApiError\b", rest):
        names.discard("ApiError")
    head = "from %serrors import " % match.group(1)
    flat = head + ", ".join(sorted(names))
    if len(flat) > 100:
        pad = " " * (len(head) + 1)
        parts, current = [], ""
        for n in sorted(names):
            piece = n + ", "
            if len(pad) + len(current) + len(piece) > 99:
                parts.append(current.rstrip())
                current = ""
            current += piece
        parts.append(current.rstrip(", "))
        flat = head + "(" + ("\n" + pad).join(parts) + ")"
    return out[:match.start()] + flat + out[match.end():]


def main(paths: list) -> int:
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
        new = rewrite(source)
        if new != source:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(new)
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
