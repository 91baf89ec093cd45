"""Codex / ChatGPT login detection for ``status``, ``setup`` and ``doctor`` (docs/API.md §14).

Owns: finding the auth files openai-oauth reads, reporting only non-secret facts about them
(docs/UPSTREAM.md §6.4: which file, whether tokens are present, expiry) and probing
``codex login status`` with a timeout. Must not: print or log a token, write or refresh the
auth file (that is the proxy's job; a second refresher causes ``refresh_token_reused``).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from typing import Any, Dict, Mapping, Optional


def auth_candidates(env: Mapping[str, str]) -> Dict[str, str]:
    home = env.get("HOME") or os.path.expanduser("~")
    codex_home = env.get("CODEX_HOME") or os.path.join(home, ".codex")
    return {
        "codex": os.path.join(codex_home, "auth.json"),
        "chatgpt": os.path.join(home, ".chatgpt-local", "auth.json"),
        "xdgCodex": os.path.join(home, ".config", "codex", "auth.json"),
    }


def _jwt_exp(token: Any) -> Optional[int]:
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    segment = token.split(".")[1]
    try:
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return int(exp) if isinstance(exp, (int, float)) else None


def describe_auth_file(path: str) -> Dict[str, Any]:
    """Non-secret facts about one auth.json (never the token strings themselves)."""
    info: Dict[str, Any] = {"path": path, "exists": os.path.isfile(path)}
    if not info["exists"]:
        return info
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        info["readable"] = False
        return info
    if not isinstance(data, dict):
        info["readable"] = False
        return info
    tokens = data.get("tokens") if isinstance(data.get("tokens"), dict) else {}

    def present(value: Any) -> bool:
        return isinstance(value, str) and bool(value)

    info.update({
        "readable": True,
        "authMode": data.get("auth_mode") if isinstance(data.get("auth_mode"), str) else None,
        "hasAccessToken": present(tokens.get("access_token")),
        "hasRefreshToken": present(tokens.get("refresh_token")),
        "hasAccountId": present(tokens.get("account_id")),
        "lastRefresh": data.get("last_refresh") if isinstance(data.get("last_refresh"), str)
        else None,
    })
    exp = _jwt_exp(tokens.get("access_token"))
    if exp is not None:
        info["expiresAt"] = exp * 1000
        info["expired"] = exp < time.time()
    return info


def probe_codex_cli(timeout: float = 2.0) -> str:
    """``authed`` / ``unauthed`` / ``missing`` from ``codex login status`` (exit code only)."""
    names = ("codex.cmd", "codex.exe", "codex") if os.name == "nt" else ("codex",)
    for name in names:
        exe = shutil.which(name)
        if not exe:
            continue
        try:
            result = subprocess.run([exe, "login", "status"], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        return "authed" if result.returncode == 0 else "unauthed"
    return "missing"


def detect(env: Mapping[str, str], probe: bool = True) -> Dict[str, Any]:
    files = auth_candidates(env)
    hits = {name: os.path.isfile(path) for name, path in files.items()}
    result = probe_codex_cli() if probe else "skipped"
    return {"authed": result == "authed" or any(hits.values()), "probe": result,
            "files": files, "fileHits": hits, "platform": os.name}
