"""A WebSocket server for the streaming tests (RFC 6455, Python standard library only).

Each connection is read on its own thread: the HTTP upgrade (Sec-WebSocket-Accept), then
frames (masked, as clients must send them; fragments joined; ping answered; close echoed).
Every text message is kept, parsed as JSON, per connection with the request path. With
echo, media frames of the inbound track are sent straight back as
{"event":"media","media":{"payload":…}} (a bidirectional client playing back what it hears).
A stalled server (stall=True) has a tiny receive buffer and never reads after the
handshake: the client's socket stops being writable, as with a slow consumer.
"""
import base64
import hashlib
import json
import socket
import struct
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Conn:
    def __init__(self, sock, path):
        self.sock, self.path = sock, path
        self.messages = []  # parsed JSON text messages, in order
        self.closed = False
        self.close_code = None
        self.lock = threading.Lock()

    def send_text(self, text):
        data = text.encode()
        n = len(data)
        hdr = bytes([0x81, n]) if n < 126 else (
            struct.pack("!BBH", 0x81, 126, n) if n < 65536 else struct.pack("!BBQ", 0x81, 127, n))
        with self.lock:
            self.sock.sendall(hdr + data)

    def events(self, kind=None):
        return [m for m in list(self.messages) if kind is None or m.get("event") == kind]


class WsServer:
    def __init__(self, echo_paths=(), stall=False):
        self.echo_paths = set(echo_paths)
        self.stall = stall
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if stall:  # accepted sockets inherit it: a small window from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path):
        return "ws://127.0.0.1:%d%s" % (self.port, path)

    def by_path(self, path):
        return [c for c in list(self.conns) if c.path == path]

    def _accept(self):
        while self.running:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    @staticmethod
    def _read(s, n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _handshake(self, s):
        req = b""
        while b"\r\n\r\n" not in req:
            chunk = s.recv(4096)
            if not chunk:
                raise EOFError
            req += chunk
        lines = req.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        hdrs = {k.strip().lower(): v.strip() for k, _, v in
                (ln.partition(":") for ln in lines[1:] if ":" in ln)}
        accept = base64.b64encode(hashlib.sha1(hdrs["sec-websocket-key"].encode() + GUID)
                                  .digest()).decode()
        s.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
        return path

    def _frame(self, s):
        b0, b1 = self._read(s, 2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(s, 2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(s, 8))[0]
        mask = self._read(s, 4) if b1 & 0x80 else b"\0\0\0\0"
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(self._read(s, n)))
        return b0 & 0x80, b0 & 0x0F, bool(b1 & 0x80), data

    def _serve(self, s):
        try:
            conn = Conn(s, self._handshake(s))
        except (EOFError, OSError, KeyError, IndexError):
            s.close()
            return
        self.conns.append(conn)
        while self.stall and self.running:
            time.sleep(0.05)
        msg, op0 = b"", 0
        try:
            while True:
                fin, op, masked, data = self._frame(s)
                assert masked, "a client frame without a mask"
                if op == 8:  # close: echo it, then we are done
                    conn.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                    with conn.lock:
                        s.sendall(bytes([0x88, len(data[:2])]) + data[:2])
                    break
                if op == 9:
                    with conn.lock:
                        s.sendall(bytes([0x8A, len(data)]) + data)
                    continue
                if op in (1, 2):
                    msg, op0 = data, op
                else:
                    msg += data
                if fin and op0 == 1:
                    self._message(conn, json.loads(msg.decode()))
        except (EOFError, OSError):
            pass
        conn.closed = True
        s.close()

    def _message(self, conn, m):
        conn.messages.append(m)
        if (conn.path in self.echo_paths and m.get("event") == "media"
                and m["media"]["track"] == "inbound"):
            conn.send_text(json.dumps({"event": "media",
                                       "media": {"payload": m["media"]["payload"]}}))

    def close(self):
        self.running = False
        self.sock.close()
        for c in list(self.conns):
            try:
                c.sock.close()
            except OSError:
                pass
