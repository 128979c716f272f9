"""The fake customer's WebRTC peer stays on loopback: what it gathers and which remote candidates it keeps."""

from __future__ import annotations

import asyncio

import aioice.ice

from bot.fakes.whatsapp_peer import ToneTrack, loopback_ice, loopback_only, new_peer_connection

OFFER = (
    "v=0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0\r\n"
    "a=candidate:2 1 udp 2122194687 10.1.2.3 50001 typ host generation 0\r\n"
    "a=candidate:3 1 udp 2122129151 0c1d2e3f-aaaa-bbbb-cccc-1234567890ab.local 50002 typ host\r\n"
    "a=candidate:4 1 udp 2122063615 ::1 50003 typ host\r\n"
    "a=candidate:5 1 udp 1685987071 203.0.113.9 50004 typ srflx raddr 10.1.2.3 rport 50001\r\n"
    "a=setup:active\r\n"
)


def test_loopback_only_keeps_loopback_candidates_and_everything_else() -> None:
    kept = loopback_only(OFFER)
    assert " 127.0.0.1 50000 " in kept and " ::1 50003 " in kept
    for gone in ("10.1.2.3 50001", ".local", "203.0.113.9"):
        assert gone not in kept
    assert kept.startswith("v=0\r\nm=audio") and "a=setup:active\r\n" in kept


async def test_loopback_ice_is_scoped_to_the_block() -> None:
    outside = aioice.ice.get_host_addresses(True, False)
    with loopback_ice():
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(False, True) == []

        async def in_a_task() -> list[str]:
            return aioice.ice.get_host_addresses(True, False)

        assert await asyncio.ensure_future(in_a_task()) == ["127.0.0.1"]
    assert aioice.ice.get_host_addresses(True, False) == outside
    assert "127.0.0.1" not in outside


async def test_a_peer_gathers_only_loopback_and_uses_no_ice_server() -> None:
    pc = new_peer_connection()
    try:
        pc.addTrack(ToneTrack())
        with loopback_ice():
            await pc.setLocalDescription(await pc.createOffer())
        candidates = [line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate:")]
        assert candidates and all(" 127.0.0.1 " in line and " typ host" in line for line in candidates)
    finally:
        await pc.close()


async def test_tone_track_plays_a_sine_in_real_time() -> None:
    tone = ToneTrack(440.0)
    frames = [await tone.recv() for _ in range(3)]
    assert [frame.pts for frame in frames] == [0, 960, 1920]
    samples = memoryview(bytes(frames[1].planes[0])).cast("h")
    assert max(samples) > 9_000 and min(samples) < -9_000  # 0.3 of full scale
    assert tone.frames_sent == 3
    tone.stop()
