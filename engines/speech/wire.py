"""The OpenAI-compatible wire formats of the local speech servers (`stt_server.py`,
`tts_server.py`), in plain Python with no third-party module so `make test` checks them without
the engines: multipart/form-data bodies, 16-bit WAV, Piper's phoneme ids, and 22.05 -> 24 kHz.
"""

import email.parser
import email.policy
import json
import re
import struct


class BadRequest(Exception):
    """A request the server answers with HTTP 400; `code` is the OpenAI-style error code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self):
        return json.dumps({"error": {"type": "invalid_request_error", "code": self.code,
                                     "message": self.message}}).encode()


def form_fields(content_type, body):
    """The fields of a multipart/form-data body: {name: bytes} (files and text alike)."""
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        raise BadRequest("bad_content_type", "expected multipart/form-data")
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise BadRequest("bad_multipart", "the multipart body has no parts")
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[name] = part.get_payload(decode=True) or b""
    return fields


def wav_pcm16(wav):
    """(sample rate, channels, s16le bytes) of a 16-bit PCM WAV. The data chunk runs to the end
    of the file when its size field says more (a streamed WAV's sizes may be placeholders)."""
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise BadRequest("bad_audio", "the file is not a WAV")
    at, fmt = 12, None
    while at + 8 <= len(wav):
        chunk, size = wav[at:at + 4], struct.unpack_from("<I", wav, at + 4)[0]
        if chunk == b"fmt " and size >= 16:
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", wav, at + 8)
            fmt = (tag, channels, rate, bits)
        elif chunk == b"data":
            if fmt is None or fmt[0] != 1 or fmt[3] != 16 or fmt[1] == 0:
                raise BadRequest("bad_audio", "only 16-bit PCM WAV is read")
            data = wav[at + 8:at + 8 + size]
            return fmt[2], fmt[1], data[:len(data) - len(data) % (2 * fmt[1])]
        at += 8 + size + (size & 1)
    raise BadRequest("bad_audio", "the WAV has no data chunk")


# Clause punctuation Piper's voices were trained with as phonemes of their own.
_CLAUSE = re.compile(r"\s*([,.;:!?])\s*")


def clauses(text):
    """[(words, punctuation)] of `text`, split at clause punctuation (kept: it shapes the
    voice's pauses and intonation). Punctuation-only or empty clauses are dropped."""
    parts = _CLAUSE.split(text.strip())
    out = []
    for i in range(0, len(parts), 2):
        words = parts[i].strip()
        mark = parts[i + 1] if i + 1 < len(parts) else ""
        if words:
            out.append((words, mark))
    return out


def sentences(text):
    """`text` cut after each sentence end (. ! ?), so speech can start before the last one."""
    return [s.strip() for s in re.findall(r"[^.!?]+[.!?]*", text) if s.strip()]


def phoneme_ids(phonemes, id_map):
    """Piper's input: BOS, then each phoneme (one code point) followed by PAD, then EOS.
    Code points the voice does not know are skipped."""
    pad, bos, eos = id_map["_"][0], id_map["^"][0], id_map["$"][0]
    ids = [bos, pad]
    for p in phonemes:
        if p in id_map:
            ids.extend(id_map[p])
            ids.append(pad)
    ids.append(eos)
    return ids


def resample_linear(samples, rate_in, rate_out):
    """`samples` (floats) from `rate_in` to `rate_out` by linear interpolation: enough for
    upsampling speech a little (22.05 -> 24 kHz puts no new band in the audible range)."""
    if rate_in == rate_out or not samples:
        return list(samples)
    n_out = (len(samples) * rate_out) // rate_in
    step = rate_in / rate_out
    out = []
    last = len(samples) - 1
    for i in range(n_out):
        x = i * step
        j = int(x)
        frac = x - j
        a = samples[j]
        b = samples[j + 1] if j < last else a
        out.append(a + (b - a) * frac)
    return out


def pcm16(samples):
    """Floats in [-1, 1] as s16le bytes (clipped)."""
    clip = (max(-1.0, min(1.0, s)) for s in samples)
    return struct.pack("<%dh" % len(samples), *(int(s * 32767) for s in clip))
