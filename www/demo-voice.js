// The demo page's voice preview: starts a session with aura-voice.js and shows captions.
import { startVoice } from "/aura-voice.js";

const $ = (id) => document.getElementById(id);
// The demo tenant's publishable key comes in the page address (`make dev` prints it).
const key = new URLSearchParams(location.search).get("key") ?? "";
const sessionUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/session?key=${encodeURIComponent(key)}`;
let voice = null;
let reply = null;

function setState(text) {
  $("voice-state").textContent = text;
}

function caption(who, text) {
  const li = document.createElement("li");
  li.className = who;
  li.textContent = `${who === "user" ? "You" : "Aura"}: ${text}`;
  $("captions").append(li);
  return li;
}

function onEvent(kind, data) {
  if (kind === "ready") setState(data.resumed ? "connected (resumed)" : "listening");
  else if (kind === "reconnecting") setState(`reconnecting in ${Math.round(data.in_ms)} ms`);
  else if (kind === "failed") setState(`error: ${data.message}`);
  else if (kind === "speech" && data.started) setState("hearing you");
  else if (kind === "speech" && data.stopped) setState("thinking");
  else if (kind === "barge_in" && data.interrupted) setState("listening (interrupted)");
  else if (kind === "reply_played") setState("listening");
  else if (kind === "message") {
    if (data.type === "transcript.final" && data.text) caption("user", data.text);
    else if (data.type === "response.started") { reply = caption("aura", ""); setState("speaking"); }
    else if (data.type === "response.text_delta" && reply) reply.textContent += data.delta;
    else if (data.type === "error") setState(`error: ${data.message}`);
    else if (data.type === "rate_limited") setState(`busy: try again in ${Math.ceil(data.retry_after_ms / 1000)} s`);
  }
}

$("voice-start").addEventListener("click", async () => {
  $("voice-start").disabled = true;
  setState("starting…");
  try {
    voice = await startVoice({ sessionUrl, onEvent });
    $("voice-stop").disabled = false;
  } catch (e) {
    setState(e.name === "NotAllowedError" ? "microphone blocked: type instead" : `could not start: ${e.message}`);
    $("voice-start").disabled = false;
  }
});

$("voice-stop").addEventListener("click", () => {
  voice?.stop();
  voice = null;
  $("voice-stop").disabled = true;
  $("voice-start").disabled = false;
  setState("idle");
});

$("text-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("text-input").value.trim();
  if (!text) return;
  if (!voice) {
    // Text mode needs no microphone: a silent input stream keeps the pipeline the same.
    const ctx = new AudioContext();
    const silent = ctx.createMediaStreamDestination().stream;
    voice = await startVoice({ sessionUrl, onEvent, audioContext: ctx, stream: silent });
    $("voice-stop").disabled = false;
    await new Promise((resolve) => {
      const wait = () => (voice.client.ready ? resolve() : setTimeout(wait, 50));
      wait();
    });
  }
  caption("user", text);
  voice.sendText(text);
  $("text-input").value = "";
});

if (!key) setState("no publishable key in this address: open the one `make dev` printed");
