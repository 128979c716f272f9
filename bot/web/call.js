// AskCall call page: the rep's browser calls the customer's WhatsApp over WebRTC. Pilot Status relays only the
// signalling (one SDP offer, one answer); audio goes straight between this page and WhatsApp.
// No build step, no dependency, no inline script: it runs under the strict Content-Security-Policy of bot/web.
//
// It talks only to its own server, with URLs relative to the page:
//   GET  config  -> {lang, strings, customer, askedBy, reason, validUntil, iceServers}
//                   (validUntil: ISO-8601, null = permanent; iceServers: optional, default none)
//   POST offer   {sdp} -> {callId}; 202 {callId: null, pending: true} when Pilot Status's answer was lost (the
//                server finds out whether the call started and says so on the stream); {callId, repeated: true}
//                when this page's call was already started (it is the same call); an error answers
//                {code, error} (e.g. META_CALL_PERMISSION_REQUIRED), and 409 CALL_IN_PROGRESS also {by, since}
//                (who is on a call with the customer, since when: ISO-8601)
//   GET  events  Server-Sent Events named "state", data {state: "ringing"|"connected"|"ended"|"failed", now,
//                sdpAnswer? and connectedAt? (with "connected"), reason? ("completed"|"missed"|"rejected"|"failed"|
//                an error code) and seconds? (with "ended": the talk time the thread says, null if none)}
//                (now, connectedAt: the server's clock, in seconds since 1970)
//   POST hangup  no body; also sent as a beacon when the tab is closed mid-call
// The server sends the call's states again on each (re)connection of the EventSource; repeats change nothing here.
// [data-testid=call-state] always holds one of: idle | connecting | ringing | connected | ended | failed.
// The timer runs on the server's clock: from when the server saw the call connected (connectedAt, placed on this
// page's own monotonic clock with the server's `now`), in whole seconds (rounded down); once the call is over it
// shows the server's `seconds`, the number the thread says, also when the rep hung up here.
"use strict";

(() => {
  const el = (id) => document.querySelector(`[data-testid="${id}"]`);
  const call = {
    state: "idle",
    strings: {},
    lang: "pt-BR",
    iceServers: [],
    pc: null,
    stream: null,
    events: null,
    callId: null,
    answered: false,
    connectedAt: null, // performance.now() at the moment the server saw the call connected
    timer: null,
    meter: null,
    audioContext: null,
  };
  window.askcallCall = call; // what tests read (getStats); nothing else uses it

  const t = (key, values = {}) =>
    (call.strings[key] || key).replace(/\{(\w+)\}/g, (_, name) => (name in values ? values[name] : ""));

  const active = () => ["connecting", "ringing", "connected"].includes(call.state) && call.callId !== null;

  function setState(state, messageKey, values = {}) {
    call.state = state;
    document.body.dataset.state = state;
    el("call-state").textContent = state;
    el("status-text").textContent = t(`state.${state}`);
    el("message").textContent = messageKey ? t(messageKey, values) : "";
    el("call").disabled = !(state === "idle" || (state === "failed" && call.callId === null));
    el("hangup").disabled = !["connecting", "ringing", "connected"].includes(state);
    el("mute").disabled = state !== "connected";
  }

  // ------------------------------------------------------------------ page set-up
  async function load() {
    let config;
    try {
      const response = await fetch("config", { credentials: "same-origin" });
      if (!response.ok) throw new Error(`config: ${response.status}`);
      config = await response.json();
    } catch (error) {
      console.warn(error);
      setState("failed", "error.provider");
      return;
    }
    call.strings = config.strings || {};
    call.lang = config.lang || "pt-BR";
    call.iceServers = Array.isArray(config.iceServers) ? config.iceServers : [];
    document.documentElement.lang = call.lang;
    document.title = t("title");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    el("customer").textContent = config.customer || "";
    el("asked-by").textContent = config.askedBy || "";
    el("reason").textContent = config.reason || "";
    el("validity-label").textContent = t(config.validUntil ? "valid_until" : "permanent");
    el("valid-until").textContent = config.validUntil
      ? new Intl.DateTimeFormat(call.lang, { dateStyle: "medium", timeStyle: "short" }).format(
          new Date(config.validUntil),
        )
      : "";
    setState("idle");
  }

  // ------------------------------------------------------------------ calling
  function iceGatheringComplete(pc) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") resolve();
      });
    });
  }

  function errorKey(status, code) {
    if (code === "META_CALL_PERMISSION_REQUIRED") return "error.permission_required";
    if (code === "NOT_STARTED") return "error.not_started";
    if (code === "FEATURE_NOT_SUPPORTED" || code === "WEB_NUMBER_NOT_SUPPORTED") return "error.number_unsupported";
    if (code === "NO_ANSWER_SDP") return "error.no_browser_audio";
    if (code === "CALL_IN_PROGRESS") return "error.busy";
    if (code === "WORKSPACE_STOPPED") return "error.workspace_stopped";
    if (status === 429 || code === "RATE_LIMITED") return "error.rate_limited";
    return "error.provider";
  }

  async function startCall() {
    if (!window.RTCPeerConnection || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setState("failed", "error.no_webrtc");
      return;
    }
    setState("connecting");
    try {
      call.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      const missing = error && ["NotFoundError", "OverconstrainedError", "NotReadableError"].includes(error.name);
      if (call.state === "connecting") setState("failed", missing ? "error.mic_missing" : "error.mic_denied");
      return;
    }
    if (call.state !== "connecting") {
      stop(); // hung up while the browser asked for the microphone
      return;
    }
    startMeter(call.stream);
    try {
      const pc = (call.pc = new RTCPeerConnection({ iceServers: call.iceServers }));
      for (const track of call.stream.getAudioTracks()) pc.addTrack(track, call.stream);
      pc.addEventListener("track", (event) => {
        el("remote-audio").srcObject = event.streams[0] || new MediaStream([event.track]);
      });
      pc.addEventListener("connectionstatechange", onConnectionState);
      await pc.setLocalDescription(await pc.createOffer());
      await iceGatheringComplete(pc); // the API takes one SDP: no trickle ICE
      if (call.state !== "connecting") return; // hung up meanwhile: stop() has closed everything
      // Meta wants the business offer to say a=setup:active, but Chromium refuses its own offer munged that way
      // when the answer arrives: keep the local description as it is and rewrite only the copy that is sent.
      const sdp = pc.localDescription.sdp.replace(/a=setup:actpass/g, "a=setup:active");
      const response = await fetch("offer", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sdp }),
      });
      const body = await response.json().catch(() => ({}));
      if (call.state !== "connecting") {
        // Hung up while the offer was on its way: the call it started must not ring on.
        if (response.ok) sendHangup();
        return;
      }
      if (!response.ok) {
        stop();
        setState("failed", errorKey(response.status, body.code), busyValues(body));
        return;
      }
      call.callId = body.callId || "pending";
      if (body.pending) setState("connecting", "pending");
      listen();
    } catch (error) {
      console.warn(error);
      if (call.state !== "connecting") return;
      stop();
      setState("failed", "error.connection");
    }
  }

  function listen() {
    call.events = new EventSource("events");
    call.events.addEventListener("state", (event) => {
      onServerState(JSON.parse(event.data)).catch((error) => console.warn(error));
    });
  }

  // Who is on the customer's call and since when, for "error.busy" (the time in the rep's own time zone).
  function busyValues(body) {
    if (body.code !== "CALL_IN_PROGRESS") return {};
    const since = body.since ? new Date(body.since) : null;
    const time = since && !Number.isNaN(since.getTime())
      ? new Intl.DateTimeFormat(call.lang, { timeStyle: "short" }).format(since)
      : "";
    return { name: body.by || "", since: time };
  }

  async function onServerState(update) {
    if (update.state === "connected" && typeof update.connectedAt === "number" && typeof update.now === "number") {
      call.connectedAt = performance.now() - Math.max(0, update.now - update.connectedAt) * 1000;
    }
    if (update.state === "ended" || update.state === "failed") showTalkTime(update.seconds);
    if (call.state === "ended" || call.state === "failed") return;
    if (update.state === "ringing") {
      if (call.state === "connecting") setState("ringing");
    } else if (update.state === "connected" && update.sdpAnswer && !call.answered) {
      call.answered = true;
      try {
        await call.pc.setRemoteDescription({ type: "answer", sdp: update.sdpAnswer });
      } catch (error) {
        console.warn(error);
        hangUp("failed", "error.connection");
      }
    } else if (update.state === "ended") {
      const reason = ["completed", "missed", "rejected"].includes(update.reason) ? update.reason : null;
      stop();
      if (reason) setState("ended", `ended.${reason}`);
      else setState("failed", "error.connection");
    } else if (update.state === "failed") {
      stop();
      setState("failed", errorKey(0, update.reason));
    }
  }

  function onConnectionState() {
    const state = call.pc ? call.pc.connectionState : "closed";
    if (state === "connected" && call.state !== "connected" && active()) {
      setState("connected");
      startTimer();
    } else if (state === "failed" && active()) {
      hangUp("failed", "error.connection");
    }
  }

  function sendHangup() {
    fetch("hangup", { method: "POST", credentials: "same-origin", keepalive: true }).catch((error) =>
      console.warn(error),
    );
  }

  function hangUp(state = "ended", messageKey = "ended.completed") {
    if (active()) sendHangup();
    // An answered call's stream stays open for its end: the talk time the thread will say (showTalkTime).
    stop({ keepEvents: call.answered });
    setState(state, messageKey);
  }

  // Everything local stops; the state is set by the caller.
  function stop({ keepEvents = false } = {}) {
    if (call.events && !keepEvents) call.events.close();
    if (call.pc) call.pc.close();
    if (call.stream) for (const track of call.stream.getTracks()) track.stop();
    if (call.timer) clearInterval(call.timer);
    if (call.meter) clearInterval(call.meter);
    if (call.audioContext) call.audioContext.close().catch(() => {});
    if (!keepEvents) call.events = null;
    call.timer = call.meter = call.audioContext = null;
    el("mic-level").value = 0;
  }

  // ------------------------------------------------------------------ controls
  function toggleMute() {
    if (!call.stream) return;
    const muted = el("mute").getAttribute("aria-pressed") !== "true";
    for (const track of call.stream.getAudioTracks()) track.enabled = !muted;
    el("mute").setAttribute("aria-pressed", String(muted));
    el("mute").textContent = t(muted ? "unmute" : "mute");
  }

  function showSeconds(seconds) {
    el("timer").textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  }

  function startTimer() {
    const started = call.connectedAt === null ? performance.now() : call.connectedAt;
    const show = () => showSeconds(Math.max(0, Math.floor((performance.now() - started) / 1000)));
    el("timer").classList.add("started");
    show();
    call.timer = setInterval(show, 1000);
  }

  // The call is over on the server: the timer shows its talk time as the thread does, and the stream is done.
  function showTalkTime(seconds) {
    if (call.timer) clearInterval(call.timer);
    call.timer = null;
    if (typeof seconds === "number") {
      showSeconds(seconds);
      el("timer").classList.add("started");
    }
    if (call.events && (call.state === "ended" || call.state === "failed")) {
      call.events.close();
      call.events = null;
    }
  }

  function startMeter(stream) {
    const AudioContextClass = window.AudioContext || window.webkitAudioContext;
    if (!AudioContextClass) return;
    const context = (call.audioContext = new AudioContextClass());
    const analyser = context.createAnalyser();
    analyser.fftSize = 512;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    context.resume().catch(() => {});
    call.meter = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const sample of samples) sum += sample * sample;
      const muted = el("mute").getAttribute("aria-pressed") === "true";
      // In decibels, as ears hear it: -60 dBFS (silence) reads 0, 0 dBFS (the loudest) reads 1; speech sits mid-way.
      const decibels = 20 * Math.log10(Math.sqrt(sum / samples.length) || 1e-6);
      el("mic-level").value = muted ? 0 : Math.min(1, Math.max(0, (decibels + 60) / 60));
    }, 100);
  }

  el("call").addEventListener("click", () => startCall());
  el("hangup").addEventListener("click", () => hangUp());
  el("mute").addEventListener("click", toggleMute);
  // Closing the tab (or leaving the page) mid-call hangs up: the beacon outlives the page.
  window.addEventListener("pagehide", () => {
    if (active()) navigator.sendBeacon("hangup");
  });
  load();
})();
