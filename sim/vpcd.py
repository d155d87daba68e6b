"""Plug a virtual card into pcscd through vsmartcard-vpcd (a card connecting is an insertion).

Protocol (docs/domain.md §6): messages both ways are a 2-byte big-endian length and a payload; a
1-byte payload from vpcd is a control code (0 power off, 1 power on, 2 reset, 4 send the ATR),
anything longer an APDU. vpcd writes the length and the data separately: without TCP_QUICKACK
after every recv() each APDU stalls about 44 ms (delayed ACK against Nagle).
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from madoguchi.edge.card.transport import CardLike, CardPulled

log = logging.getLogger(__name__)

VPCD_HOST = "127.0.0.1"
VPCD_PORT = 35963  # reader "Virtual PCD 00 00"; 35964 is "Virtual PCD 00 01"
POWER_OFF, POWER_ON, RESET, GET_ATR = 0, 1, 2, 4


class VpcdCard:
    """One insertion of `card` into vpcd's reader: insert() connects, remove() disconnects."""

    def __init__(self, card: CardLike, host: str = VPCD_HOST, port: int = VPCD_PORT) -> None:
        self.card, self.host, self.port = card, host, port
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def insert(self, timeout: float = 10.0) -> VpcdCard:
        """Connect to vpcd (retrying while pcscd starts); the card is then in the reader."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ConnectionError(f"vpcd is not listening on {self.host}:{self.port} (is pcscd running?)") from None
                time.sleep(0.05)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), name=f"vpcd:{self.port}", daemon=True)
        self._thread.start()
        return self

    def remove(self) -> None:
        """Pull the card out of the reader."""
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def wait(self) -> None:
        """Block until the card leaves (vpcd closed the connection or remove() was called)."""
        if self._thread is not None:
            self._thread.join()

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                message = _receive(sock)
                if message is None:
                    break
                if len(message) == 1:
                    if message[0] in (POWER_ON, RESET, POWER_OFF):
                        self.card.reset()
                    elif message[0] == GET_ATR:
                        _send(sock, self.card.atr)
                    continue
                try:
                    response = self.card.process(message)
                except CardPulled:
                    break
                _send(sock, response)
        except OSError as exc:
            log.debug("vpcd connection ended: %s", exc)
        finally:
            if self._sock is sock:
                self._sock = None
                sock.close()


def _receive(sock: socket.socket) -> bytes | None:
    head = _exactly(sock, 2)
    if head is None:
        return None
    return _exactly(sock, int.from_bytes(head, "big"))


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        part = sock.recv(size - len(data))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)  # Linux clears it again after each ACK
        if not part:
            return None
        data += part
    return data


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(len(payload).to_bytes(2, "big") + payload)
