// Demo page, for developers (loaded by demo-widget.js only with ?debug in the address): reports
// whether the edge and the browser client are up and speak one protocol. It states only what it
// measured. It loads the client WebAssembly, which visitors otherwise load only when they open
// the widget.
document.getElementById("aura-status").hidden = false;
const show = (id, text, ok) => {
  const el = document.getElementById(id);
  el.textContent = text;
  el.className = ok ? "ok" : "bad";
};

async function edgeProtocol() {
  try {
    const res = await fetch("/health", { cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const health = await res.json();
    show("edge-status", `${health.status}, ${health.service} ${health.version}, protocol ${health.protocol}`, health.status === "ok");
    return health.protocol;
  } catch (e) {
    show("edge-status", `unreachable: ${e.message}`, false);
    return null;
  }
}

async function clientProtocol() {
  try {
    const client = await import("/pkg/aura_client.js");
    await client.default();
    const version = client.protocolVersion();
    show("client-status", `loaded, protocol ${version}`, true);
    return version;
  } catch (e) {
    show("client-status", `failed to load: ${e.message}`, false);
    return null;
  }
}

const [edge, client] = await Promise.all([edgeProtocol(), clientProtocol()]);
if (edge !== null && edge === client) {
  show("protocol-status", `compatible: both speak protocol ${edge}`, true);
} else {
  show("protocol-status", `mismatch or unavailable (edge ${edge}, client ${client})`, false);
}
