// Puts the Aura widget on the demo page. On a customer's site this is one static tag,
//   <script src="https://AURA_HOST/aura.js" data-key="pk_..." async></script>;
// here the publishable key of the local demo tenant comes from the page's address, which
// `make dev` prints.
const params = new URLSearchParams(location.search);
// ?debug shows what the local system reports (demo.js loads the client WebAssembly for it).
if (params.has("debug")) import("/demo.js");
const key = params.get("key");
if (key) {
  const tag = document.createElement("script");
  tag.src = "/aura.js";
  tag.async = true;
  tag.dataset.key = key;
  // ?end_of_turn=client: the old turn-taking (protocol v1), to compare with the edge's.
  if (params.get("end_of_turn") === "client") tag.dataset.endOfTurn = "client";
  tag.dataset.title = "Mill Lane Bakery assistant";
  tag.dataset.greeting = "Hello! Ask me about opening hours, orders or how to find us. Press the microphone to talk, or type.";
  document.body.append(tag);
  // `make dev` says in the address which providers the demo tenant has.
  const notes = {
    local:
      "Here it runs on this computer, with no keys: Whisper tiny.en listens, SmolLM2-135M answers " +
      "and a Piper voice speaks. A 135-million-parameter model is fluent but often wrong, even about " +
      "the hours above. Put a real provider's key in .dev.vars for a real assistant.",
    emulator:
      "Here it uses Aura's provider emulator: its replies are scripted and say so. Without " +
      "AURA_ENGINES=emulator, make dev runs small local models instead; a key in .dev.vars gives a real assistant.",
  };
  const note = notes[params.get("engines")];
  if (note) {
    const p = document.createElement("p");
    p.id = "engines-note";
    p.textContent = note;
    document.getElementById("widget-note").after(p);
  }
} else {
  document.getElementById("widget-note").textContent =
    "No publishable key in this address: open the one `make dev` printed to see the assistant.";
}
