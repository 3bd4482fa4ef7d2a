"""A threaded HTTP server on 127.0.0.1 that a test starts and stops with ``with``: the part every
fake server of the suite (judge, reward model) shares."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer


class LocalHTTPServer:
    """Serves ``handler`` on 127.0.0.1 (``port`` 0: any free one) on a daemon thread while in ``with``."""

    def __init__(self, handler, port: int = 0):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
