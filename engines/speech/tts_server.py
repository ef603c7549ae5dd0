"""`python tts_server.py --voice VOICE.onnx [--port P]`: OpenAI-compatible text-to-speech on
127.0.0.1 (`POST /v1/audio/speech` with JSON `{"input": ..., "response_format": "pcm"}`, answers
24 kHz s16le mono PCM, streamed a sentence at a time) with a Piper voice run by onnxruntime.
Phonemes come from the espeak-ng program (GPL-3), run as a separate process per request."""

import argparse
import json
import subprocess
import sys

from http_server import serve
from wire import BadRequest, clauses, pcm16, phoneme_ids, resample_linear, sentences

OUT_RATE = 24_000  # OpenAI's `pcm`


def espeak_phonemes(words, voice):
    """IPA of `words` from `espeak-ng --ipa` (one line per clause it sees; joined by spaces)."""
    out = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice, "--stdin"], input=words.encode(),
                         capture_output=True, timeout=10, check=True)
    return " ".join(line.strip() for line in out.stdout.decode().splitlines() if line.strip())


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--voice", required=True, help="the Piper .onnx (its .onnx.json beside it)")
    args.add_argument("--port", type=int, default=8792)
    opts = args.parse_args()

    import numpy as np
    import onnxruntime

    with open(opts.voice + ".json", encoding="utf-8") as f:
        config = json.load(f)
    id_map = config["phoneme_id_map"]
    espeak_voice = config.get("espeak", {}).get("voice", "en-us")
    rate = config["audio"]["sample_rate"]
    inference = config.get("inference", {})
    scales = np.array([inference.get("noise_scale", 0.667), inference.get("length_scale", 1.0),
                       inference.get("noise_w", 0.8)], dtype=np.float32)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(opts.voice, options, providers=["CPUExecutionProvider"])

    def synthesize(sentence):
        phonemes = " ".join(espeak_phonemes(words, espeak_voice) + mark
                            for words, mark in clauses(sentence))
        ids = phoneme_ids(phonemes, id_map)
        if len(ids) <= 3:
            return b""
        audio = session.run(None, {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": scales,
        })[0].reshape(-1)
        return pcm16(resample_linear(audio.tolist(), rate, OUT_RATE))

    def speech(headers, body, respond):
        try:
            request = json.loads(body)
        except ValueError:
            raise BadRequest("bad_json", "the body is not JSON") from None
        text = request.get("input") if isinstance(request, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("missing_input", "`input` must be non-empty text")
        if len(text) > 4096:
            raise BadRequest("input_too_long", "`input` is longer than 4096 characters")
        if request.get("response_format", "pcm") != "pcm":
            raise BadRequest("unsupported_format", "only `pcm` (24 kHz s16le mono) is served")
        write = respond.stream("audio/pcm")
        for sentence in sentences(text):
            write(synthesize(sentence))

    serve("aura-tts (piper voice)", opts.port, {"/v1/audio/speech": speech})


if __name__ == "__main__":
    sys.exit(main())
