"""The WhatsApp end of a fake business-initiated call, played with aiortc: answers an offer, plays a tone, counts.

Used by :class:`bot.fakes.pilot_status.FakePilotStatus` (and by tests that need a WebRTC peer), never by AskCall
itself; it needs the ``test`` extra (aiortc).

Invariant: a peer built here only ever talks to loopback. It has no ICE server at all (aiortc would otherwise fall
back to a public STUN server), gathers only 127.0.0.1 (aioice skips loopback by default: :func:`loopback_ice`
turns it on for the calling task only), and drops every non-loopback candidate of the remote description before
applying it, so its connectivity checks can reach no other address even on a machine with other interfaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fractions
import math
import re
import time
from array import array
from collections.abc import Callable, Iterator

import aioice.ice
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame
from av.frame import Frame

__all__ = [
    "AudioCounter",
    "TonePeer",
    "ToneTrack",
    "WhatsAppPeer",
    "loopback_ice",
    "loopback_only",
    "new_peer_connection",
]

SAMPLE_RATE = 48_000
PTIME = 0.02  # 20 ms frames, Opus's usual packet time
SAMPLES_PER_FRAME = int(SAMPLE_RATE * PTIME)
AUDIBLE_PEAK = 1_000  # of 32767: a decoded frame whose peak passes this carries sound, not silence
LOOPBACK_ADDRESSES = frozenset({"127.0.0.1", "::1"})
_CANDIDATE_RE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) ")

_LOOPBACK_ICE: contextvars.ContextVar[bool] = contextvars.ContextVar("askcall_loopback_ice", default=False)
_ORIGINAL_HOST_ADDRESSES: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if _LOOPBACK_ICE.get():
        return ["127.0.0.1"] if use_ipv4 else []
    return _ORIGINAL_HOST_ADDRESSES(use_ipv4, use_ipv6)


@contextlib.contextmanager
def loopback_ice() -> Iterator[None]:
    """Inside this block (this task and the tasks it starts) aioice gathers 127.0.0.1 and nothing else.

    aioice reads its module-level ``get_host_addresses`` at gathering time; the replacement installed here is
    idempotent and consults a context variable, so code outside the block keeps aioice's own behaviour.
    """
    aioice.ice.get_host_addresses = _host_addresses
    token = _LOOPBACK_ICE.set(True)
    try:
        yield
    finally:
        _LOOPBACK_ICE.reset(token)


def loopback_only(sdp: str) -> str:
    """``sdp`` without the ``a=candidate`` lines whose address is not loopback (mDNS names included)."""
    kept = []
    for line in sdp.splitlines():
        match = _CANDIDATE_RE.match(line)
        if match is None or match.group(1) in LOOPBACK_ADDRESSES:
            kept.append(line)
    return "\r\n".join(kept) + "\r\n"


def new_peer_connection() -> RTCPeerConnection:
    """An aiortc peer connection with an explicitly empty ICE server list (no public STUN fallback)."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


class ToneTrack(MediaStreamTrack):
    """A live audio track playing a sine tone (440 Hz by default) in real time, 20 ms per frame."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, amplitude: float = 0.3) -> None:
        super().__init__()
        # One second holds a whole number of periods for any integer frequency: loop it seamlessly.
        peak = int(32767 * amplitude)
        step = 2 * math.pi * frequency / SAMPLE_RATE
        second = array("h", (int(peak * math.sin(step * n)) for n in range(SAMPLE_RATE)))
        self._second = second.tobytes()
        self._start: float | None = None
        self._pts = 0
        self.frames_sent = 0

    async def recv(self) -> Frame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += SAMPLES_PER_FRAME
            await asyncio.sleep(self._start + self._pts / SAMPLE_RATE - time.monotonic())
        offset = 2 * (self._pts % SAMPLE_RATE)
        frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES_PER_FRAME)
        frame.planes[0].update(self._second[offset : offset + 2 * SAMPLES_PER_FRAME])
        frame.pts = self._pts
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self.frames_sent += 1
        return frame


class AudioCounter:
    """Reads a received audio track to its end, counting decoded frames and the ones that carry sound."""

    def __init__(self) -> None:
        self.frames = 0
        self.audible_frames = 0
        self._task: asyncio.Task[None] | None = None

    def consume(self, track: MediaStreamTrack) -> None:
        self._task = asyncio.ensure_future(self._run(track))

    async def _run(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.frames += 1
                if isinstance(frame, AudioFrame):
                    samples = array("h", bytes(frame.planes[0]))
                    if samples and max(max(samples), -min(samples)) > AUDIBLE_PEAK:
                        self.audible_frames += 1

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class TonePeer:
    """One end of an audio call: plays a tone, counts the decoded frames it receives, knows when it is connected."""

    def __init__(self, tone_hz: float = 440.0) -> None:
        self.pc = new_peer_connection()
        self.tone = ToneTrack(tone_hz)
        self.pc.addTrack(self.tone)
        self.received = AudioCounter()
        self.connected = asyncio.Event()
        self.failed = asyncio.Event()
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self.received.consume(track)

    async def _on_state(self) -> None:
        if self.pc.connectionState == "connected":
            self.connected.set()
        elif self.pc.connectionState in ("failed", "closed"):
            self.failed.set()

    async def wait_connected(self, timeout: float) -> bool:  # noqa: ASYNC109
        """True once ICE+DTLS are up; False if the connection failed or ``timeout`` passed first."""
        _done, pending = await asyncio.wait(
            [asyncio.ensure_future(self.connected.wait()), asyncio.ensure_future(self.failed.wait())],
            timeout=timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        for task in pending:
            task.cancel()
        return self.connected.is_set()

    @property
    def frames_received(self) -> int:
        return self.received.frames

    @property
    def audible_frames_received(self) -> int:
        return self.received.audible_frames

    async def close(self) -> None:
        await self.pc.close()
        await self.received.stop()


class WhatsAppPeer(TonePeer):
    """The customer's phone: answers one offer (loopback candidates only) with every candidate gathered."""

    async def answer(self, offer_sdp: str) -> str:
        """Apply ``offer_sdp``, return the answer SDP.

        An offer with ``a=setup:active`` gets ``a=setup:passive`` back: this peer becomes the DTLS server.
        """
        with loopback_ice():
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=loopback_only(offer_sdp), type="offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp
