// Test-only worklet: watches the microphone (input 0) and Aura's output (input 1) and reports,
// in audio frames: when the microphone's marker click arrives, when speech starts in it after
// the marker (above 0.02 after >= 0.5 s below: `onsets`, the heard timing even where an engine
// drops captured audio), and every change of the output between sound and silence.
class Probe extends AudioWorkletProcessor {
  constructor() {
    super();
    this.marker = null;
    this.sounding = false;
    this.changes = [];
    this.onsets = [];
    this.lastLoud = 0;
    this.port.onmessage = () => this.port.postMessage({ marker: this.marker, changes: this.changes, onsets: this.onsets });
  }
  process(inputs) {
    const mic = inputs[0] && inputs[0][0];
    const out = inputs[1] && inputs[1][0];
    if (mic && this.marker === null) {
      for (let i = 0; i < mic.length; i++) if (Math.abs(mic[i]) > 0.5) { this.marker = currentFrame + i; break; }
    }
    if (mic && this.marker !== null) {
      for (let i = 0; i < mic.length; i++) {
        const t = currentFrame + i;
        if (Math.abs(mic[i]) <= 0.02 || t < this.marker + 2400) continue;
        if (t - this.lastLoud >= 24000) this.onsets.push(t);
        this.lastLoud = t;
      }
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
