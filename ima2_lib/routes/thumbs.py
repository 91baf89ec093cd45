"""``/generated/<file>?thumb=<px>``: the thumbnail hook ``routes/files.py`` calls.

``App`` installs ``thumbnail_response`` as ``app.thumbnail_response``; the service decides
which file answers and this module serves it with the ``X-Ima2-Thumbnail`` state header.
"""
from __future__ import annotations

from typing import Any

from ..httpio import Request, Response
from ..services.thumbs import HEADER
from .files import serve_file


def thumbnail_response(app: Any, req: Request, relative: str, path: str) -> Response:
    served, mime, state = app.history.thumbs.thumbnail(relative, path, req.query_one("thumb"))
    cache = "public, max-age=%d, immutable" % max(0, app.config.static_max_age // 1000)
    return serve_file(req, served, cache, mime, [(HEADER, state)])
