"""A local OpenAI-compatible chat-completions server for tests (127.0.0.1, a free port): the real `openai` client talks
to it over HTTP. Test modules subclass `ChatHandler` with their own `do_POST` and serve it with `serve`."""
import json, threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatHandler(BaseHTTPRequestHandler):
    "Request handler with JSON replies in the chat-completions shape; quiet."

    def log_message(self, *a): pass

    def _send(self, code, obj):
        data = json.dumps(obj).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the client gave up (timeout tests)

    def _reply(self, model, content):
        "A 200 chat completion answering `content`."
        self._send(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )


@contextmanager
def serve(handler):
    "Serve `handler` on 127.0.0.1 in a thread; yields the base URL (…/v1)."
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    finally:
        srv.shutdown()
        srv.server_close()
