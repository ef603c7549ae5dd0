#!/usr/bin/env python3
"""Extracts Silero VAD v6's 16 kHz weights from the pinned PyPI wheel into Aura's compact files.

    scripts/silero-weights.py WHEEL OUT_DIR

Reads the 16 kHz network from the wheel's ONNX files (nothing from the package runs; the `onnx`
and `numpy` packages of the venv that scripts/bootstrap.sh makes parse them): the initializers of
silero_vad/data/silero_vad_16k_op15.onnx, checked equal to the 16 kHz branch of the package's
default model silero_vad.onnx (the wheel's silero_vad_16k.safetensors holds other weights and is
not used). Checks the wheel's sha256, checks that the STFT front end is the periodic-Hann
256-point DFT that the Rust inference computes itself (so it is not stored), and writes OUT_DIR/silero-v6-{f32,f16,int8}.bin and OUT_DIR/silero-v6.LICENSE.txt (the wheel's MIT
licence). The format (little-endian), read by client-wasm/src/silero/weights.rs:

    b"ASV6", u8 encoding (1 = f32, 2 = f16, 3 = int8), 3 zero bytes, then every tensor in the
    order of TENSORS. Biases are always f32. A weight of R rows (its first dimension) is f32 or
    f16 values, or for int8: R f32 scales then R*C int8 values (row r = scale[r] * q).
"""
import hashlib
import math
import struct
import sys
import zipfile

import numpy as np
import onnx
from onnx import numpy_helper

WHEEL_SHA256 = "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8"
OP15 = "silero_vad/data/silero_vad_16k_op15.onnx"
DEFAULT = "silero_vad/data/silero_vad.onnx"
LICENSE = "silero_vad-6.2.3.dist-info/licenses/LICENSE"
# (name in the ONNX graph without its "model." prefix, shape, is_bias) in file order.
TENSORS = [
    ("encoder.0.reparam_conv.weight", [128, 129, 3], False),
    ("encoder.0.reparam_conv.bias", [128], True),
    ("encoder.1.reparam_conv.weight", [64, 128, 3], False),
    ("encoder.1.reparam_conv.bias", [64], True),
    ("encoder.2.reparam_conv.weight", [64, 64, 3], False),
    ("encoder.2.reparam_conv.bias", [64], True),
    ("encoder.3.reparam_conv.weight", [128, 64, 3], False),
    ("encoder.3.reparam_conv.bias", [128], True),
    ("decoder.rnn.weight_ih", [512, 128], False),
    ("decoder.rnn.weight_hh", [512, 128], False),
    ("decoder.rnn.bias_ih", [512], True),
    ("decoder.rnn.bias_hh", [512], True),
    ("decoder.decoder.2.weight", [1, 128, 1], False),
    ("decoder.decoder.2.bias", [1], True),
]
STFT = "stft.forward_basis_buffer"
ENCODINGS = {"f32": 1, "f16": 2, "int8": 3}


def read_op15(blob):
    """{name: array} of the op15 model's initializers."""
    graph = onnx.load_from_string(blob).graph
    return {
        i.name.removeprefix("model."): numpy_helper.to_array(i).astype(np.float32)
        for i in graph.initializer
    }


def check_same_as_default(tensors, blob):
    """The default model's 16 kHz branch (`sr == 16000`) must hold exactly these weights."""
    root = onnx.load_from_string(blob).graph
    branch = next(
        a.g for n in root.node if n.op_type == "If" for a in n.attribute if a.name == "then_branch"
    )
    found = {}
    for node in branch.node:
        name = node.output[0].split("Inline_0__")[-1]
        if node.op_type == "Constant" and name in tensors:
            found[name] = numpy_helper.to_array(node.attribute[0].t)
    for name, value in tensors.items():
        if name not in found or not np.array_equal(found[name], value):
            sys.exit(f"silero-weights: {name} differs between {OP15} and {DEFAULT}")


def check_stft(shape, values):
    """The front end must be cos/-sin of the 256-point DFT times a periodic Hann window."""
    if shape != [258, 1, 256]:
        sys.exit(f"silero-weights: stft_conv.weight has shape {shape}")
    worst = 0.0
    for k in range(129):
        for t in range(256):
            w = 0.5 - 0.5 * math.cos(2 * math.pi * t / 256)
            angle = 2 * math.pi * k * t / 256
            worst = max(worst, abs(values[k * 256 + t] - math.cos(angle) * w))
            worst = max(worst, abs(values[(129 + k) * 256 + t] + math.sin(angle) * w))
    if worst > 1e-6:
        sys.exit(f"silero-weights: the STFT basis is not a Hann-windowed DFT (max diff {worst})")


def encode(values, shape, is_bias, encoding):
    if is_bias or encoding == "f32":
        return struct.pack(f"<{len(values)}f", *values)
    if encoding == "f16":
        return struct.pack(f"<{len(values)}e", *values)
    rows = shape[0]
    cols = len(values) // rows
    scales, quantised = [], []
    for r in range(rows):
        row = values[r * cols : (r + 1) * cols]
        scale = max(abs(v) for v in row) / 127 or 1.0
        scales.append(scale)
        quantised.extend(max(-127, min(127, round(v / scale))) for v in row)
    return struct.pack(f"<{rows}f", *scales) + struct.pack(f"<{len(quantised)}b", *quantised)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: silero-weights.py WHEEL OUT_DIR")
    wheel, out = sys.argv[1], sys.argv[2]
    with open(wheel, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != WHEEL_SHA256:
        sys.exit(f"silero-weights: {wheel} has sha256 {digest}, expected {WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as z:
        tensors = read_op15(z.read(OP15))
        check_same_as_default(tensors, z.read(DEFAULT))
        licence = z.read(LICENSE)
    basis = tensors[STFT]
    check_stft(list(basis.shape), basis.reshape(-1).tolist())
    for encoding, code in ENCODINGS.items():
        parts = [b"ASV6", bytes([code, 0, 0, 0])]
        for name, shape, is_bias in TENSORS:
            got_shape, values = list(tensors[name].shape), tensors[name].reshape(-1).tolist()
            if got_shape != shape:
                sys.exit(f"silero-weights: {name} has shape {got_shape}, expected {shape}")
            parts.append(encode(values, shape, is_bias, encoding))
        with open(f"{out}/silero-v6-{encoding}.bin", "wb") as f:
            f.write(b"".join(parts))
    with open(f"{out}/silero-v6.LICENSE.txt", "wb") as f:
        f.write(b"Silero VAD v6 weights, from the PyPI package silero-vad 6.2.3 (sha256 ")
        f.write(WHEEL_SHA256.encode() + b"), converted by Aura. Their licence:\n\n" + licence)


if __name__ == "__main__":
    main()
