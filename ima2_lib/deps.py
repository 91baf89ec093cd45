"""Optional dependencies (Pillow, certifi) in one place, with kill switches for testing.

Owns: detecting Pillow and certifi *by using them*, the ``IMA2_NO_PIL`` / ``IMA2_NO_CERTIFI``
switches that force the fallback on a machine that has them, and the feature table shown by
``--version`` and ``doctor`` with the install command that works for this interpreter (venv,
Debian's externally managed Python, user site-packages) or, when a switch turned it off, the
switch to unset.
Must not: import Pillow or certifi at module import time (start-up stays fast), or ever
decide whether TLS is verified (certifi only changes where CA certificates come from).
"""
from __future__ import annotations

import io
import os
import shlex
import sys
import threading
from typing import Any, Dict, List, Mapping, Optional, Tuple

_TRUE = ("1", "true", "yes", "on")
SWITCHES = {"pillow": "IMA2_NO_PIL", "certifi": "IMA2_NO_CERTIFI"}
PIP_NAMES = {"pillow": "Pillow", "certifi": "certifi"}
APT_NAMES = {"pillow": "python3-pil", "certifi": "python3-certifi"}


def python_environment() -> Dict[str, Any]:
    """Facts about this interpreter that decide how a package is installed into it."""
    import site
    import sysconfig

    stdlib = sysconfig.get_paths().get("stdlib") or ""
    return {
        "executable": sys.executable or "python3",
        "venv": sys.prefix != getattr(sys, "base_prefix", sys.prefix),
        # PEP 668: the distribution manages this Python (Debian, Ubuntu, Fedora, Homebrew ...).
        "externally_managed": bool(stdlib) and os.path.isfile(
            os.path.join(stdlib, "EXTERNALLY-MANAGED")),
        "debian": os.path.isfile("/etc/debian_version"),
        "user_site": bool(site.ENABLE_USER_SITE),
        "root": hasattr(os, "geteuid") and os.geteuid() == 0,
    }


def install_command(feature: str, facts: Optional[Dict[str, Any]] = None) -> str:
    """The command that installs ``feature`` (pillow / certifi) for *this* interpreter: pip
    inside a virtual environment, apt on Debian's own (externally managed) Python, a private
    venv on other managed Pythons, ``pip --user`` where user site-packages are on."""
    facts = python_environment() if facts is None else facts
    python = shlex.quote(str(facts.get("executable") or "python3"))
    package = PIP_NAMES[feature]
    if facts.get("venv"):
        return "%s -m pip install %s" % (python, package)
    if facts.get("externally_managed"):
        if facts.get("debian"):
            return "%sapt install %s" % ("" if facts.get("root") else "sudo ", APT_NAMES[feature])
        return ("%s -m venv ~/.ima2-venv && ~/.ima2-venv/bin/pip install %s, then run ima2 "
                "with ~/.ima2-venv/bin/python" % (python, package))
    if facts.get("user_site"):
        return "%s -m pip install --user %s" % (python, package)
    return "%s -m pip install %s" % (python, package)


class Features:
    """Lazily probed optional features for one App (or one CLI run)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.no_pil = str(env.get("IMA2_NO_PIL", "")).strip().lower() in _TRUE
        self.no_certifi = str(env.get("IMA2_NO_CERTIFI", "")).strip().lower() in _TRUE
        self._lock = threading.Lock()
        self._probed: Dict[str, Any] = {}

    # Pillow -------------------------------------------------------------------------
    def _probe_pil(self) -> Dict[str, Any]:
        with self._lock:
            if "pil" in self._probed:
                return self._probed["pil"]
            info: Dict[str, Any] = {"module": None, "version": None, "webp": False,
                                    "reason": None}
            if self.no_pil:
                info["reason"] = "switched off by IMA2_NO_PIL"
            else:
                try:
                    from PIL import Image  # noqa: F401  (optional)
                    import PIL

                    probe = Image.new("RGB", (2, 2))
                    probe.save(io.BytesIO(), "PNG")
                    info["module"] = Image
                    info["version"] = getattr(PIL, "__version__", "?")
                    try:
                        probe.save(io.BytesIO(), "WEBP")
                        info["webp"] = True
                    except Exception:  # noqa: BLE001 - a Pillow built without libwebp
                        info["webp"] = False
                except Exception as exc:  # noqa: BLE001 - any import/probe failure = absent
                    info["reason"] = "not installed" if isinstance(exc, ImportError) else str(exc)
            self._probed["pil"] = info
            return info

    @property
    def pil(self) -> Optional[Any]:
        """The ``PIL.Image`` module when usable, else None."""
        return self._probe_pil()["module"]

    @property
    def have_pil(self) -> bool:
        return self.pil is not None

    @property
    def have_webp(self) -> bool:
        return bool(self._probe_pil()["webp"])

    # certifi ------------------------------------------------------------------------
    def _probe_certifi(self) -> Dict[str, Any]:
        with self._lock:
            if "certifi" in self._probed:
                return self._probed["certifi"]
            info: Dict[str, Any] = {"where": None, "version": None, "reason": None}
            if self.no_certifi:
                info["reason"] = "switched off by IMA2_NO_CERTIFI"
            else:
                try:
                    import os

                    import certifi  # optional

                    where = certifi.where()
                    if where and os.path.isfile(where):
                        info["where"] = where
                        info["version"] = getattr(certifi, "__version__", "?")
                    else:
                        info["reason"] = "certifi bundle missing"
                except ImportError:
                    info["reason"] = "not installed"
            self._probed["certifi"] = info
            return info

    @property
    def certifi_bundle(self) -> Optional[str]:
        return self._probe_certifi()["where"]

    @property
    def have_certifi(self) -> bool:
        return self.certifi_bundle is not None

    def table(self) -> List[Tuple[str, bool, str, str, str]]:
        """Rows of (name, available, version or reason, what it enables, how to install)."""
        pil = self._probe_pil()
        cert = self._probe_certifi()
        facts = python_environment()
        return [
            ("pillow", pil["module"] is not None, pil["version"] or pil["reason"] or "",
             "thumbnails, format conversion (jpeg/webp)",
             self._enable("pillow", facts)),
            ("certifi", cert["where"] is not None, cert["version"] or cert["reason"] or "",
             "Mozilla CA bundle for HTTPS (else the system store)",
             self._enable("certifi", facts)),
        ]

    def switched_off(self, name: str) -> bool:
        """True when the feature is off because its IMA2_NO_* switch is set (not missing)."""
        return self.no_pil if name == "pillow" else self.no_certifi if name == "certifi" \
            else False

    def _enable(self, name: str, facts: Dict[str, Any]) -> str:
        if self.switched_off(name):
            return "unset %s" % SWITCHES[name]
        return install_command(name, facts)

    def as_dict(self) -> Dict[str, bool]:
        return {name: ok for name, ok, _v, _w, _h in self.table()}


def make_ssl_context(features: Features, ca_bundle: Optional[str] = None) -> Any:
    """A verifying TLS context: certifi's bundle when present, else the system store.

    There is deliberately no code path that turns verification off.
    """
    import ssl

    context = ssl.create_default_context()
    if features.certifi_bundle:
        context.load_verify_locations(cafile=features.certifi_bundle)
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context
