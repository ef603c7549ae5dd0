"""A small HTTP/1.1 server on 127.0.0.1 for one engine: requests are answered one at a time
(the engine uses one core; a second request waits instead of halving both), errors are JSON in
OpenAI's shape, and `GET /health` answers once the model is loaded."""

import http.server
import json
import sys
import threading

from wire import BadRequest

MAX_BODY = 32 * 1024 * 1024


def serve(name, port, routes):
    """Serve `routes` ({path: fn(headers, body, respond)}) on 127.0.0.1:`port` until killed.
    `respond` is an object with `json(value)` and `stream(content_type)` -> write(bytes)."""
    engine = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):  # never log requests: their bodies are speech and text
            pass

        def _send(self, status, body, content_type="application/json"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def json(self, value):
            self._send(200, json.dumps(value).encode())

        def stream(self, content_type):
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def write(data):
                if data:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
            return write

        def do_GET(self):
            if self.path == "/health":
                self._send(200, json.dumps({"ok": True, "engine": name}).encode())
            else:
                self._send(404, BadRequest("not_found", "no such route").body())

        def do_POST(self):
            route = routes.get(self.path.split("?")[0])
            if route is None:
                self._send(404, BadRequest("not_found", "no such route").body())
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                self._send(400, BadRequest("bad_length", "a body of 1 B to 32 MiB is expected").body())
                return
            body = self.rfile.read(length)
            streaming = []
            try:
                with engine:
                    def stream(content_type):
                        streaming.append(True)
                        return self.stream(content_type)
                    respond = type("Respond", (), {"json": staticmethod(self.json),
                                                   "stream": staticmethod(stream)})
                    route(self.headers, body, respond)
                if streaming:
                    self.wfile.write(b"0\r\n\r\n")
            except BadRequest as e:
                if not streaming:
                    self._send(400, e.body())
            except (BrokenPipeError, ConnectionResetError):
                pass  # the edge hung up (barge-in): nothing to answer

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                super().handle_error(request, client_address)  # a traceback, no request data

    server = Server(("127.0.0.1", port), Handler)
    print(f"{name} listening on http://127.0.0.1:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)
