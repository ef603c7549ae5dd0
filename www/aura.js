// Aura widget: one tag on any page.
//
//   <script src="https://AURA_HOST/aura.js" data-key="pk_..." async></script>
//
// Options (data-key, data-position, data-color, data-greeting, data-language, data-voice,
// data-title), the API (window.Aura) and its events: docs/widget.md.
// A closed Shadow DOM with a constructed stylesheet: no CSS or JavaScript leaks either way and
// no inline style or script, so it runs under a strict Content-Security-Policy. The microphone
// is asked for only when the user presses the microphone button.
(() => {
  const script = document.currentScript;
  if (!script || window.Aura) return;
  const base = new URL(".", script.src);
  const data = script.dataset;
  const options = {
    key: data.key ?? "",
    position: data.position === "bottom-left" ? "bottom-left" : "bottom-right",
    color: /^#[0-9a-fA-F]{3,8}$/.test(data.color ?? "") ? data.color : "#6b4226",
    greeting: data.greeting ?? "Hi! Ask me anything, by voice or by typing.",
    language: data.language ?? navigator.language ?? "en-US",
    title: data.title ?? "Assistant",
    voice: data.voice ?? null,
  };
  const wsBase = base.href.replace(/^http/, "ws");
  const sessionUrl = `${new URL("v1/session", wsBase)}?key=${encodeURIComponent(options.key)}`;

  const listeners = new Map();
  const emit = (name, detail) => (listeners.get(name) ?? []).forEach((fn) => {
    try { fn(detail); } catch (e) { console.error(e); }
  });

  const css = `
    :host { all: initial; --aura-color: ${options.color}; }
    * { box-sizing: border-box; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
    .launcher { position: fixed; bottom: 20px; ${options.position === "bottom-left" ? "left" : "right"}: 20px;
      width: 56px; height: 56px; border-radius: 50%; border: none; cursor: pointer; z-index: 2147483000;
      background: var(--aura-color); color: #fff; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
    .launcher svg { width: 26px; height: 26px; fill: currentColor; }
    .panel { position: fixed; bottom: 88px; ${options.position === "bottom-left" ? "left" : "right"}: 20px;
      width: min(360px, calc(100vw - 40px)); height: min(480px, calc(100vh - 120px)); z-index: 2147483000;
      display: flex; flex-direction: column; background: #fff; color: #1f1f1f; border-radius: 14px;
      box-shadow: 0 10px 30px rgba(0,0,0,.25); overflow: hidden; }
    .panel[hidden] { display: none; }
    header { display: flex; align-items: center; gap: 8px; padding: 10px 12px; background: var(--aura-color); color: #fff; }
    header h2 { flex: 1; margin: 0; font-weight: 600; }
    .state { font-size: 13px; opacity: .9; }
    .captions { flex: 1; overflow-y: auto; margin: 0; padding: 10px 12px; list-style: none; }
    .captions li { margin: 6px 0; padding: 6px 10px; border-radius: 10px; max-width: 85%; white-space: pre-wrap; }
    .captions .user { margin-left: auto; background: #eef1f5; }
    .captions .aura { background: #f6efe7; }
    .captions .partial { opacity: .6; }
    .controls { display: flex; gap: 6px; padding: 8px 10px; border-top: 1px solid #e5e5e5; }
    .controls input { flex: 1; min-width: 0; padding: 8px 10px; border: 1px solid #ccc; border-radius: 8px; }
    button { cursor: pointer; }
    .icon { border: 1px solid #ccc; background: #fff; border-radius: 8px; padding: 6px 10px; }
    .icon svg { width: 18px; height: 18px; fill: currentColor; vertical-align: middle; }
    .icon[aria-pressed="true"] { background: var(--aura-color); color: #fff; }
    .close { background: transparent; border: none; color: #fff; font-size: 20px; }
    .voice svg { width: 20px; height: 20px; fill: currentColor; vertical-align: middle; }
    .voice[aria-pressed="true"] { opacity: .55; text-decoration: line-through; }
    :focus-visible { outline: 3px solid #1a73e8; outline-offset: 2px; }
    .notice { padding: 6px 12px; font-size: 13px; background: #fff4e5; color: #6d4500; }
    .notice[hidden] { display: none; }
  `;

  const host = document.createElement("div");
  host.setAttribute("data-aura-widget", "");
  const shadow = host.attachShadow({ mode: "closed" });
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(css);
  shadow.adoptedStyleSheets = [sheet];

  const el = (tag, attrs = {}, children = []) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    e.append(...children);
    return e;
  };
  const svg = (path) => {
    const s = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    const p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", path);
    s.append(p);
    return s;
  };
  const MIC = "M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11z";

  const launcher = el("button", { class: "launcher", type: "button", "aria-label": `Open ${options.title}`, "aria-expanded": "false", "aria-controls": "aura-panel" }, [svg(MIC)]);
  const state = el("span", { class: "state", role: "status", "aria-live": "polite", text: "idle" });
  const closeButton = el("button", { class: "close", type: "button", "aria-label": "Close", text: "×" });
  const voiceButton = el("button", { class: "close voice", type: "button", "aria-label": "Mute the assistant's voice", "aria-pressed": "false" },
    [svg("M3 9v6h4l5 5V4L7 9H3zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4z")]);
  const captions = el("ol", { class: "captions", "aria-live": "polite", "aria-label": "Conversation" });
  const notice = el("p", { class: "notice", hidden: "" });
  const micButton = el("button", { class: "icon mic", type: "button", "aria-label": "Talk (use the microphone)", "aria-pressed": "false" }, [svg(MIC)]);
  const muteButton = el("button", { class: "icon mute", type: "button", "aria-label": "Mute the microphone", "aria-pressed": "false", hidden: "", text: "Mute" });
  const endButton = el("button", { class: "icon end", type: "button", "aria-label": "End the conversation", text: "End" });
  const input = el("input", { type: "text", maxlength: "4000", autocomplete: "off", "aria-label": "Type a message", placeholder: "Type a message…" });
  const send = el("button", { class: "icon send", type: "submit", "aria-label": "Send", text: "Send" });
  const form = el("form", { class: "controls" }, [micButton, muteButton, input, send, endButton]);
  const panel = el("section", { class: "panel", id: "aura-panel", role: "dialog", "aria-label": options.title, hidden: "" }, [
    el("header", {}, [el("h2", { text: options.title }), state, voiceButton, closeButton]),
    notice, captions, form,
  ]);
  shadow.append(launcher, panel);

  let voice = null;
  let starting = null;
  let audio = null; // the AudioContext, made in a user gesture
  let micOn = false;
  let muted = false;
  let voiceMuted = false;
  let silent = null; // the text-mode input: no microphone
  let replyItem = null;
  let partialItem = null;
  let currentState = "idle";

  const setState = (name, detail = "") => {
    currentState = name;
    state.textContent = detail ? `${name}: ${detail}` : name;
    emit("state", { state: name, detail });
  };
  const say = (who, text, extra = "") => {
    const li = el("li", { class: `${who} ${extra}`.trim(), text });
    captions.append(li);
    captions.scrollTop = captions.scrollHeight;
    return li;
  };
  const showNotice = (text) => { notice.textContent = text; notice.hidden = !text; };
  // Browsers keep audio suspended until a user gesture allows it (Safari: only within the
  // gesture's handler), so each gesture calls this synchronously. Resolves whether sound runs.
  const BLOCKED = "The browser is holding back the sound: replies show as text. Press the microphone or send a message to allow it.";
  function wakeAudio() {
    if (!audio || audio.state === "closed") {
      audio = new AudioContext();
      audio.onstatechange = () => audio?.state === "running" && notice.textContent === BLOCKED && showNotice("");
    }
    const ctx = audio;
    if (ctx.state === "running") return Promise.resolve(true);
    const late = new Promise((r) => setTimeout(r, 2000));
    return Promise.race([ctx.resume().catch(() => {}), late]).then(() => {
      const ok = ctx.state === "running";
      if (!ok && ctx === audio) showNotice(BLOCKED);
      return ok;
    });
  }

  function onEvent(kind, data) {
    if (kind === "ready") setState(micOn ? "listening" : "ready");
    else if (kind === "reconnecting") setState("reconnecting", `in ${Math.ceil(data.in_ms / 1000)} s`);
    else if (kind === "failed") { setState("error", data.message); emit("error", data); }
    else if (kind === "speech" && data.started) setState("listening", "hearing you");
    else if (kind === "speech" && data.stopped) setState("thinking");
    else if (kind === "barge_in" && data.interrupted) setState("listening");
    else if (kind === "reply_played") setState(micOn ? "listening" : "ready");
    else if (kind === "message") onMessage(data);
  }

  function onMessage(m) {
    if (m.type === "transcript.partial") {
      partialItem ??= say("user", "", "partial");
      partialItem.textContent = m.text;
    } else if (m.type === "transcript.final") {
      if (partialItem) { partialItem.remove(); partialItem = null; }
      if (m.text) { say("user", m.text); emit("transcript", { text: m.text }); }
    } else if (m.type === "response.started") {
      replyItem = say("aura", "");
      setState("speaking");
    } else if (m.type === "response.text_delta" && replyItem) {
      replyItem.textContent += m.delta;
      captions.scrollTop = captions.scrollHeight;
    } else if (m.type === "response.done") {
      if (replyItem) emit("reply", { text: replyItem.textContent, status: m.status });
      replyItem = null;
      // A reply that cannot play (sound held back) was shown: the turn is over.
      if ((m.status !== "completed" || audio?.state !== "running") && currentState === "speaking") setState(micOn ? "listening" : "ready");
    } else if (m.type === "error") {
      setState("error", m.message);
      emit("error", { code: m.code, message: m.message });
    } else if (m.type === "handoff") {
      // The assistant hands the visitor to a person: the page decides how (Aura.on("handoff")).
      showNotice("Connecting you with a person…");
      emit("handoff", { reason: m.reason });
    } else if (m.type === "session.end") {
      setState("ended");
      emit("end", { reason: m.reason });
      voice?.stop();
      voice = null;
      starting = null;
      micOn = false;
      micButton.setAttribute("aria-pressed", "false");
      muteButton.hidden = true;
    } else if (m.type === "rate_limited") {
      const s = Math.ceil(m.retry_after_ms / 1000);
      setState("busy", `try again in ${s} s`);
      showNotice(`The assistant is busy right now; try again in ${s} s.`);
      emit("error", { code: "rate_limited", message: m.limit, retry_after_ms: m.retry_after_ms });
    }
  }

  // A session in text mode: a silent input, so no microphone permission is needed.
  async function ensureSession() {
    if (voice) return voice;
    starting ??= (async () => {
      setState("connecting");
      wakeAudio(); // before any await: still inside the user's gesture
      const ctx = audio;
      const { startVoice } = await import(new URL("aura-voice.js", base).href);
      silent = ctx.createMediaStreamDestination().stream;
      voice = await startVoice({
        sessionUrl, onEvent, audioContext: ctx, stream: silent, language: options.language, voice: options.voice,
      });
      voice.setVoiceMuted(voiceMuted || panel.hidden);
      return voice;
    })().catch((e) => { starting = null; setState("error", e.message); emit("error", { code: "start", message: e.message }); throw e; });
    return starting;
  }

  async function startMicrophone() {
    try {
      const awake = wakeAudio(); // in the gesture, before any await
      const v = await ensureSession();
      if (!(await awake)) return; // the microphone is heard through the audio graph
      const mic = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
      v.setInput(mic);
      micOn = true;
      micButton.setAttribute("aria-pressed", "true");
      muteButton.hidden = false;
      showNotice("");
      setState("listening");
    } catch (e) {
      // Refused, absent (WebKit says OverconstrainedError when there is no capture device at
      // all) or held by another application: the visitor can still type.
      if (e && ["NotAllowedError", "NotFoundError", "SecurityError", "OverconstrainedError", "NotReadableError"].includes(e.name)) {
        showNotice("The microphone is not available. You can type your question instead.");
        setState("ready", "microphone blocked: type instead");
        input.focus();
        emit("error", { code: "microphone_denied", message: e.name });
      } else { setState("error", e.message); emit("error", { code: "start", message: e.message }); }
    }
  }

  // Back to text mode: the microphone is released (its tracks stopped).
  function stopMicrophone() {
    if (voice && silent) voice.setInput(silent);
    micOn = false;
    setMicMuted(false);
    micButton.setAttribute("aria-pressed", "false");
    muteButton.hidden = true;
    if (voice) setState("ready");
  }
  function setMicMuted(m) {
    muted = m;
    voice?.setMuted(m);
    muteButton.setAttribute("aria-pressed", String(m));
    muteButton.textContent = m ? "Unmute" : "Mute";
    muteButton.setAttribute("aria-label", m ? "Unmute the microphone" : "Mute the microphone");
  }

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    if (!captions.childElementCount) say("aura", options.greeting);
    wakeAudio();
    voice?.setVoiceMuted(voiceMuted);
    ensureSession().catch(() => {});
    input.focus();
    emit("open", {});
  }

  // Closing stops listening and silences the voice: nothing is heard or said behind a closed
  // panel (a reply that arrives still shows in the captions).
  function close() {
    if (micOn) stopMicrophone();
    voice?.stopReply();
    voice?.setVoiceMuted(true);
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
    emit("close", {});
  }

  function end() {
    voice?.stop();
    voice?.context.close();
    voice = null;
    audio = null;
    starting = null;
    stopMicrophone();
    captions.replaceChildren(); // the conversation is gone: so are its captions
    replyItem = partialItem = null;
    setState("idle");
    close();
  }

  launcher.addEventListener("click", () => (panel.hidden ? open() : close()));
  closeButton.addEventListener("click", close);
  endButton.addEventListener("click", end);
  micButton.addEventListener("click", () => (micOn ? stopMicrophone() : startMicrophone()));
  muteButton.addEventListener("click", () => {
    setMicMuted(!muted);
    setState(muted ? "muted" : "listening");
  });
  voiceButton.addEventListener("click", () => {
    voiceMuted = !voiceMuted;
    voice?.setVoiceMuted(voiceMuted);
    if (voiceMuted) voice?.stopReply();
    voiceButton.setAttribute("aria-pressed", String(voiceMuted));
  });
  panel.addEventListener("keydown", (e) => { if (e.key === "Escape") close(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    say("user", text);
    wakeAudio(); // in the gesture; the reply still shows as text if sound stays blocked
    try {
      const v = await ensureSession();
      await new Promise((resolve, reject) => {
        const t0 = Date.now();
        const wait = () => (v.client.ready ? resolve() : Date.now() - t0 > 15000 ? reject(new Error("not connected")) : setTimeout(wait, 50));
        wait();
      });
      v.sendText(text);
      setState("thinking");
    } catch (err) {
      setState("error", err.message);
    }
  });

  const mount = () => document.body.append(host);
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);

  window.Aura = Object.freeze({
    open, close,
    on(name, fn) { listeners.set(name, [...(listeners.get(name) ?? []), fn]); },
    off(name, fn) { listeners.set(name, (listeners.get(name) ?? []).filter((f) => f !== fn)); },
    get state() { return currentState; },
  });
})();
