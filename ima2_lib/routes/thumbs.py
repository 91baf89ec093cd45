"""``/generated/<file>?thumb=<px>``: the thumbnail answer ``routes/files.py`` delegates to.

``routes/files.py`` calls ``thumbnail_response`` once it has validated and resolved the file;
the service decides which file answers and this module serves it with the ``X-Ima2-Thumbnail`` state header.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..httpio import Request, Response
from ..services.thumbs import HEADER
from .files import serve_file

if TYPE_CHECKING:
    from ..app import App


def thumbnail_response(app: App, req: Request, relative: str, path: str) -> Response:
    served, mime, state = app.history.thumbs.thumbnail(relative, path, req.query_one("thumb"))
    cache = "public, max-age=%d, immutable" % max(0, app.config.static_max_age // 1000)
    return serve_file(req, served, cache, mime, [(HEADER, state)])
