"""Real audio files and a real HTTP radio stream for the media tests, made in the test with PyAV.

    path = write_tone(tmp_path / "a.mp3", seconds=2.0, frequency=440.0, title="Song A", artist="Band")
    with RadioServer(write_tone(tmp_path / "loop.mp3", seconds=3.0), name="Test Radio") as radio:
        radio.url                                    # http://127.0.0.1:PORT/stream: an endless MP3 at real time
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np

CODECS = {".mp3": ("libmp3lame", "mp3"), ".flac": ("flac", "flac"), ".ogg": ("libopus", "ogg"), ".opus": ("libopus", "ogg")}


def tone(seconds: float, frequency: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    """A sine, quantized to 16 bits (so a lossless file holds exactly these values)."""
    t = np.arange(int(round(seconds * rate))) / rate
    return np.round(amplitude * np.sin(2 * np.pi * frequency * t) * 32767) / 32768


def write_tone(path: Path, seconds: float = 2.0, frequency: float = 440.0, rate: int = 48000, title: str = "",
               artist: str = "", samples: np.ndarray | None = None) -> Path:
    """Encode a mono sine (or `samples`) to mp3, flac or ogg/opus, by the file's suffix, with optional tags."""
    codec, container_format = CODECS[path.suffix]
    audio = tone(seconds, frequency, rate) if samples is None else samples
    with av.open(str(path), "w", format=container_format) as out:
        if title:
            out.metadata["title"] = title
        if artist:
            out.metadata["artist"] = artist
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame_samples = 960 if codec == "libopus" else 1152
        for start in range(0, len(audio), frame_samples):
            chunk = audio[start : start + frame_samples].astype(np.float32)
            if codec == "flac":
                frame = av.AudioFrame.from_ndarray(np.round(chunk * 32768).astype(np.int16).reshape(1, -1), format="s16",
                                                   layout="mono")
            else:
                frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


class RadioServer:
    """Internet radio on 127.0.0.1: `/stream` sends an MP3 file over and over at about real time."""

    def __init__(self, mp3: Path, name: str = "Test Radio", bytes_per_second: int = 16000) -> None:
        self.data = mp3.read_bytes()
        self.name = name
        self.clients = 0
        self._stopped = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path != "/stream":
                    self.send_error(404)
                    return
                server.clients += 1
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("icy-name", server.name)
                self.end_headers()
                server._send_forever(self.wfile, bytes_per_second)

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/stream"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="radio", daemon=True)

    def _send_forever(self, wfile, bytes_per_second: int) -> None:
        chunk = max(1, bytes_per_second // 10)
        began, sent = time.monotonic(), 0
        while not self._stopped.is_set():
            for start in range(0, len(self.data), chunk):
                if self._stopped.is_set():
                    return
                try:
                    wfile.write(self.data[start : start + chunk])
                except OSError:  # the player hung up
                    return
                sent += chunk
                # pace like a station: never more than 2 s ahead of real time (the first 2 s at once)
                ahead = sent / bytes_per_second - (time.monotonic() - began) - 2.0
                if ahead > 0:
                    self._stopped.wait(ahead)

    def __enter__(self) -> RadioServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._httpd.shutdown()
        self._httpd.server_close()
