#!/usr/bin/env python3
"""Silero VAD v6 run by onnxruntime (the reference) over real speech, for the equivalence test.

    scripts/silero-reference.py WHEEL OUT.json RAW...
    scripts/silero-reference.py --batch WHEEL DIR [8000]


RAW files are 16 kHz mono s16le, concatenated in order. The ONNX model is the wheel's default
(silero_vad/data/silero_vad.onnx), read from the zip; the wrapper logic is the package's own
(512-sample chunks, the previous chunk's last 64 samples prepended, state carried). Writes
{"files": [...], "chunk": 512, "probabilities": [...]} for client-wasm/tests/silero_equivalence.rs.
With --batch, every DIR/*.f32 (16 kHz mono float32 little-endian, e.g. the VAD benchmark's mixes)
gets DIR/*.probs: one float32 probability per 512-sample chunk, each file a fresh stream. With
8000 after DIR, the files are 8 kHz and go through the model's 8 kHz branch (256-sample chunks, 32
of context: still 32 ms per probability).
Runs in the venv that scripts/bootstrap.sh makes (onnxruntime and numpy from PyPI, pinned).
"""
import glob
import json
import sys
import zipfile

import numpy as np
import onnxruntime


def session(wheel):
    with zipfile.ZipFile(wheel) as z:
        model = z.read("silero_vad/data/silero_vad.onnx")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def probabilities(session, audio, rate=16000):
    """The package's wrapper logic over one stream of float32 audio at 16 or 8 kHz."""
    chunk, context_len = (512, 64) if rate == 16000 else (256, 32)
    state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros((1, context_len), dtype=np.float32)
    sr = np.array(rate, dtype=np.int64)
    probabilities = []
    for start in range(0, len(audio) - chunk + 1, chunk):
        x = np.concatenate([context, audio[None, start : start + chunk]], axis=1)
        prob, state = session.run(None, {"input": x, "state": state, "sr": sr})
        context = x[:, -context_len:]
        probabilities.append(float(prob[0, 0]))
    return probabilities


def main():
    if len(sys.argv) in (4, 5) and sys.argv[1] == "--batch":
        model = session(sys.argv[2])
        rate = int(sys.argv[4]) if len(sys.argv) == 5 else 16000
        if rate not in (16000, 8000):
            sys.exit(f"silero-reference.py: rate {rate} is neither 16000 nor 8000")
        for path in sorted(glob.glob(f"{sys.argv[3]}/*.f32")):
            probs = probabilities(model, np.fromfile(path, dtype="<f4"), rate)
            np.array(probs, dtype="<f4").tofile(path[: -len(".f32")] + ".probs")
        return
    if len(sys.argv) < 4:
        sys.exit("usage: silero-reference.py WHEEL OUT.json RAW... | --batch WHEEL DIR [8000]")
    wheel, out, raws = sys.argv[1], sys.argv[2], sys.argv[3:]
    audio = np.concatenate(
        [np.fromfile(raw, dtype="<i2").astype(np.float32) / 32768.0 for raw in raws]
    )
    probabilities_ = probabilities(session(wheel), audio)
    with open(out, "w") as f:
        json.dump(
            {
                "files": raws,
                "chunk": 512,
                "onnxruntime": onnxruntime.__version__,
                "probabilities": probabilities_,
            },
            f,
        )


if __name__ == "__main__":
    main()
