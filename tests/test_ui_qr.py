"""The studio's QR encoder (``static/js/qr.js``, used for share links) against an independent
reference (the ``qrcode`` package): the same module grid for every error-correction level,
every mask and versions 1–10, text in UTF-8 (Hangul included); the automatically chosen mask
gives the reference's grid for that mask. Runs the module in Node (test-only; the studio runs
it in the browser). Skips without Node unless IMA2_REQUIRE_NPM_TOOLS=1.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any, Dict, List, Optional

import pytest

qrcode = pytest.importorskip("qrcode")
from qrcode.util import MODE_8BIT_BYTE, QRData  # noqa: E402

from helpers import ROOT  # noqa: E402

LEVELS = {"L": qrcode.constants.ERROR_CORRECT_L, "M": qrcode.constants.ERROR_CORRECT_M,
          "Q": qrcode.constants.ERROR_CORRECT_Q, "H": qrcode.constants.ERROR_CORRECT_H}
TEXTS = ["HELLO", "http://192.168.1.20:3333/s/AbCdEfGhIjKlMnOpQrStUvWxYz012345",
         "한국어 텍스트 ✓", "z" * 17, "y" * 60, "w" * 106, "x" * 150, "v" * 200]
RUNNER = """
import { readFileSync } from 'node:fs';
const { qrMatrix, qrSvg } = await import(process.argv[1]);
const cases = JSON.parse(readFileSync(0, 'utf8'));
const out = cases.map(([text, ecc, mask]) => {
  try {
    const q = qrMatrix(text, { ecc, mask: mask === null ? undefined : mask });
    return { version: q.version, mask: q.mask,
             rows: q.modules.map((r) => r.map((v) => (v ? '1' : '0')).join('')) };
  } catch (e) { return { error: String(e.message) }; }
});
out.push({ svg: qrSvg('https://example.test/s/abc', { label: 'Share <link>' }) });
console.log(JSON.stringify(out));
"""


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("IMA2_REQUIRE_NPM_TOOLS") == "1":
            pytest.fail("IMA2_REQUIRE_NPM_TOOLS=1 but node is not installed")
        pytest.skip("node is not installed")
    return node


def _reference(text: str, ecc: str, version: Optional[int] = None,
               mask: Optional[int] = None) -> Any:
    code = qrcode.QRCode(version=version, error_correction=LEVELS[ecc], border=0,
                         mask_pattern=mask)
    code.add_data(QRData(text.encode("utf-8"), mode=MODE_8BIT_BYTE))
    code.make(fit=version is None)
    return code


def _rows(code: Any) -> List[str]:
    return ["".join("1" if v else "0" for v in row) for row in code.modules]


def _run(cases: List[List[Any]]) -> List[Dict[str, Any]]:
    module = "file://" + os.path.join(ROOT, "static", "js", "qr.js")
    run = subprocess.run([_node(), "--input-type=module", "-e", RUNNER, module],
                         input=json.dumps(cases), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_every_level_mask_and_version_matches_the_reference() -> None:
    cases = []
    for text in TEXTS:
        for ecc in LEVELS:
            if _reference(text, ecc).version <= 10:
                cases += [[text, ecc, mask] for mask in list(range(8)) + [None]]
    cases.append(["x" * 400, "M", None])  # beyond version 10: refused, not a wrong code
    *results, svg = _run(cases)
    assert results[-1] == {"error": "text too long for a QR code here"}
    versions = set()
    for (text, ecc, mask), got in zip(cases[:-1], results[:-1]):
        expected = _reference(text, ecc)
        assert got["version"] == expected.version, (text, ecc)  # the smallest that fits
        versions.add(got["version"])
        chosen = got["mask"] if mask is None else mask
        assert got["mask"] == chosen
        assert got["rows"] == _rows(_reference(text, ecc, got["version"], chosen)), \
            (text[:20], ecc, mask, got["version"])
    assert versions == set(range(1, 11))
    markup = svg["svg"]
    assert markup.startswith("<svg") and 'aria-label="Share link"' in markup
    assert "<link>" not in markup and "http" not in markup.split("xmlns")[0]
