// The smallest browser side of a call, for the harness test: getUserMedia -> RTCPeerConnection -> offer with every
// ICE candidate -> POST a copy saying a=setup:active -> long-poll the answer -> connected. No inline script (CSP).
"use strict";

const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
const harness = { pc: null, callId: null };
window.harness = harness;

function setState(state) {
  byTestId("call-state").textContent = state;
}

function iceGatheringComplete(pc) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}

async function postJson(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${data.code}`);
  return data;
}

async function call() {
  byTestId("call").disabled = true;
  setState("connecting");
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    const pc = (harness.pc = new RTCPeerConnection({ iceServers: [] }));
    for (const track of stream.getAudioTracks()) pc.addTrack(track, stream);
    pc.addEventListener("track", (event) => {
      byTestId("remote-audio").srcObject = event.streams[0] || new MediaStream([event.track]);
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "connected") setState("connected");
      if (pc.connectionState === "failed") setState("failed");
    });
    await pc.setLocalDescription(await pc.createOffer());
    await iceGatheringComplete(pc);
    // The local description stays actpass (Chromium refuses a munged one later); only the copy says active.
    const sdp = pc.localDescription.sdp.replace(/a=setup:actpass/g, "a=setup:active");
    const started = await postJson("/calls", { sdp });
    harness.callId = started.id;
    setState("ringing");
    byTestId("hangup").disabled = false;
    const outcome = await (await fetch(`/calls/${encodeURIComponent(started.id)}/answer`)).json();
    if (!outcome.sdpAnswer) {
      pc.close();
      setState("ended");
      return;
    }
    await pc.setRemoteDescription({ type: "answer", sdp: outcome.sdpAnswer });
  } catch (error) {
    console.error(error);
    setState("failed");
  }
}

async function hangup() {
  byTestId("hangup").disabled = true;
  if (harness.callId) await postJson(`/calls/${encodeURIComponent(harness.callId)}/hangup`);
  if (harness.pc) harness.pc.close();
  setState("ended");
}

// What the test reads: the received audio as Chromium counts it.
harness.inboundAudio = async () => {
  if (!harness.pc) return null;
  const stats = await harness.pc.getStats();
  for (const report of stats.values()) {
    if (report.type === "inbound-rtp" && report.kind === "audio") {
      const codec = report.codecId ? stats.get(report.codecId) : null;
      return {
        packetsReceived: report.packetsReceived || 0,
        totalSamplesReceived: report.totalSamplesReceived || 0,
        codec: codec ? codec.mimeType : null,
      };
    }
  }
  return null;
};

byTestId("call").addEventListener("click", call);
byTestId("hangup").addEventListener("click", hangup);
