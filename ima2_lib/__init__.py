"""ima2: a local image-generation studio on the Python standard library.

Embedding API (no side effects on import)::

    from ima2_lib import App, load_config, make_server
    app = App(load_config(env={"IMA2_CONFIG_DIR": "/tmp/x"}))
    server = make_server(app, "127.0.0.1", 0)
    app.start(server)            # background tasks, runtime ports
    server.serve_forever()

Everything lives on the ``App`` instance; nothing here holds mutable state.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "App", "load_config", "make_server"]


def __getattr__(name: str):
    # Lazy re-exports keep `import ima2_lib` (and `ima2.py --help`) cheap.
    if name == "App":
        from .app import App

        return App
    if name == "make_server":
        from .server import make_server

        return make_server
    if name == "load_config":
        from .config import load_config

        return load_config
    raise AttributeError(name)
