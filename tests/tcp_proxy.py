"""A TCP proxy in front of a Redis port that can blackhole the connections it carries.

What a NAT or firewall does when it forgets a flow, or what a peer host that vanished looks
like: the sockets stay open on both ends, bytes go in and nothing ever comes back. New
connections are forwarded again, so a client that notices and reconnects recovers.
"""

import contextlib
import socket
import threading


class _Pair:
    def __init__(self, downstream: socket.socket, upstream: socket.socket) -> None:
        self.downstream = downstream
        self.upstream = upstream
        self.dead = False

    def close(self) -> None:
        for sock in (self.downstream, self.upstream):
            with contextlib.suppress(OSError):
                sock.close()


class BlackholeProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port``, one thread per direction."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._pairs: list[_Pair] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def blackhole(self) -> int:
        """Stop forwarding on every connection open now; returns how many there were."""
        with self._lock:
            for pair in self._pairs:
                pair.dead = True
            return len(self._pairs)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for pair in self._pairs:
                pair.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                downstream.close()
                continue
            upstream.settimeout(None)
            pair = _Pair(downstream, upstream)
            with self._lock:
                self._pairs.append(pair)
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(
                    target=self._pump, args=(pair, source, sink), name="proxy-pump", daemon=True
                ).start()

    def _pump(self, pair: _Pair, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not pair.dead:  # a blackholed flow swallows what it is sent
                    sink.sendall(data)
        except OSError:
            pass
        pair.close()  # one side hung up (a client giving up on a dead flow): end both
