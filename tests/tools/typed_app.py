"""One-off rewrite: ``app: Any`` parameters → ``app: App`` with the ``TYPE_CHECKING`` import.

Usage (from the repository root, relative paths): ``python3 tests/tools/typed_app.py $(git ls-files
'ima2_lib/*.py')`` on a
branch written before ``App`` was typed; tests/test_app_collaborators.py fails on an ``app``
parameter typed ``Any``. Adds ``TYPE_CHECKING`` to the ``typing`` import, drops ``Any`` when no
longer used and imports ``App`` under ``if TYPE_CHECKING:`` (no import cycle, no import cost).
Not used at run time or by the tests.
"""
import ast
import re
import sys

files = sys.argv[1:]
for f in files:
    s = open(f, encoding="utf-8").read()
    if "app: Any" not in s:
        continue
    s = re.sub(r"\bapp: Any\b", "app: App", s)
    rel = "..app" if f.count("/") >= 2 else ".app"
    tree = ast.parse(s)
    lines = s.splitlines(True)
    # typing import
    m = re.search(r"^from typing import (.*)$", s, re.M)
    names = [n.strip() for n in m.group(1).split(",")]
    if "TYPE_CHECKING" not in names:
        names.append("TYPE_CHECKING")
    # Any still used?
    body_wo = s[:m.start()] + s[m.end():]
    if not re.search(r"\bAny\b", body_wo):
        names.remove("Any")
    names = sorted(set(names), key=lambda n: (n != "TYPE_CHECKING", n))
    newimp = "from typing import " + ", ".join(names)
    s = s[:m.start()] + newimp + s[m.end():]
    if re.search(r"^if TYPE_CHECKING:.*\n", s, re.M):
        s = re.sub(r"^(if TYPE_CHECKING:.*\n)", r"\1    from %s import App\n" % rel, s,
                   count=1, flags=re.M)
    else:
        tree = ast.parse(s)
        last = None
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                last = node
            elif isinstance(node, ast.Expr) and last is None:
                continue
            else:
                if last is not None:
                    break
        lines = s.splitlines(True)
        idx = last.end_lineno
        lines.insert(idx, "\nif TYPE_CHECKING:\n    from %s import App\n" % rel)
        s = "".join(lines)
    open(f, "w", encoding="utf-8").write(s)
    print(f)
