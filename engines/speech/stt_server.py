"""`python stt_server.py --model DIR [--port P]`: OpenAI-compatible speech-to-text on 127.0.0.1
(`POST /v1/audio/transcriptions`, multipart with `file` = a 16-bit WAV, answers `{"text": ...}`)
by faster-whisper with a CTranslate2 Whisper model (tiny.en in `make dev`), on one CPU thread,
greedy decoding."""

import argparse
import os
import sys

from http_server import serve
from wire import BadRequest, form_fields, wav_pcm16


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--model", required=True)
    args.add_argument("--port", type=int, default=8791)
    opts = args.parse_args()

    # A path that is not a model folder would be taken for a hub repository name and fetched:
    # refuse it, and never let faster-whisper reach a hub.
    if not os.path.isfile(os.path.join(opts.model, "model.bin")):
        sys.exit(f"aura-stt: {opts.model} is not a CTranslate2 Whisper folder (no model.bin)")

    import numpy as np
    from faster_whisper import WhisperModel

    model = WhisperModel(opts.model, device="cpu", compute_type="int8", cpu_threads=1,
                         local_files_only=True)

    def transcriptions(headers, body, respond):
        fields = form_fields(headers.get("Content-Type"), body)
        if "file" not in fields:
            raise BadRequest("missing_file", "the form has no `file`")
        rate, channels, pcm = wav_pcm16(fields["file"])
        if rate != 16_000:
            raise BadRequest("bad_audio", f"16 kHz WAV expected, got {rate} Hz")
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        if channels > 1:
            audio = audio.reshape(-1, channels).mean(axis=1)
        language = (fields.get("language") or b"en").decode(errors="replace")[:2] or "en"
        # The prompt steers the style as OpenAI's `prompt` does (Whisper's initial prompt).
        prompt = (fields.get("prompt") or b"").decode(errors="replace")[:1000] or None
        segments, _ = model.transcribe(audio, language=language, beam_size=1, initial_prompt=prompt,
                                       condition_on_previous_text=False, vad_filter=False)
        text = " ".join(s.text.strip() for s in segments).strip()
        respond.json({"text": text})

    serve("aura-stt (faster-whisper)", opts.port, {"/v1/audio/transcriptions": transcriptions})


if __name__ == "__main__":
    sys.exit(main())
