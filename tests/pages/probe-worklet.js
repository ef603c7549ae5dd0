// Test-only worklet: watches the microphone (input 0) and Aura's output (input 1) and reports,
// in audio frames: when the microphone's marker click arrives, and every change of the output
// between sound and silence.
class Probe extends AudioWorkletProcessor {
  constructor() {
    super();
    this.marker = null;
    this.sounding = false;
    this.changes = [];
    this.port.onmessage = () => this.port.postMessage({ marker: this.marker, changes: this.changes });
  }
  process(inputs) {
    const mic = inputs[0] && inputs[0][0];
    const out = inputs[1] && inputs[1][0];
    if (mic && this.marker === null) {
      for (let i = 0; i < mic.length; i++) if (Math.abs(mic[i]) > 0.5) { this.marker = currentFrame + i; break; }
    }
    if (out) {
      let loud = false;
      for (let i = 0; i < out.length; i++) if (Math.abs(out[i]) > 1e-3) { loud = true; break; }
      if (loud !== this.sounding) {
        this.sounding = loud;
        this.changes.push([currentFrame, loud ? 1 : 0]);
      }
    }
    return true;
  }
}
registerProcessor("aura-probe", Probe);
