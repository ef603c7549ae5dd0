"""Host tests of wire.py (no engine, no third-party module): `python3 -m unittest` here, run by
tests/tests/dev_scripts.rs in `make test`."""

import json
import struct
import unittest

from wire import (BadRequest, clauses, form_fields, pcm16, phoneme_ids, resample_linear,
                  sentences, wav_pcm16)


def wav(rate, samples, channels=1, data_size=None):
    data = struct.pack("<%dh" % len(samples), *samples)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    size = len(data) if data_size is None else data_size
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"LIST" + struct.pack("<I", 3) + b"abc\x00" + b"data" + struct.pack("<I", size) + data)


class Multipart(unittest.TestCase):
    def test_fields_and_files_are_read_byte_for_byte(self):
        audio = wav(16_000, [0, 1, -1, 32767])
        body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
                b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"u.wav\"\r\n"
                b"Content-Type: audio/wav\r\n\r\n" + audio + b"\r\n--XyZ--\r\n")
        fields = form_fields("multipart/form-data; boundary=XyZ", body)
        self.assertEqual(fields["model"], b"whisper-1")
        self.assertEqual(fields["file"], audio)

    def test_other_bodies_are_bad_requests(self):
        with self.assertRaises(BadRequest) as e:
            form_fields("application/json", b"{}")
        self.assertEqual(e.exception.code, "bad_content_type")
        self.assertEqual(json.loads(e.exception.body())["error"]["code"], "bad_content_type")
        with self.assertRaises(BadRequest):
            form_fields("multipart/form-data; boundary=a", b"not multipart at all")


class Wav(unittest.TestCase):
    def test_pcm_after_other_chunks_and_with_a_streaming_size(self):
        self.assertEqual(wav_pcm16(wav(16_000, [1, 2, 3])), (16_000, 1, struct.pack("<3h", 1, 2, 3)))
        streamed = wav(22_050, [1, 2, 3], data_size=0xFFFFFFFF)
        self.assertEqual(wav_pcm16(streamed), (22_050, 1, struct.pack("<3h", 1, 2, 3)))

    def test_not_a_pcm16_wav_is_a_bad_request(self):
        for bad in [b"", b"RIFF1234WAVE", b"hello world, this is no wav", wav(16_000, [1])[:36]]:
            with self.assertRaises(BadRequest):
                wav_pcm16(bad)
        float_wav = bytearray(wav(16_000, [1, 2]))
        float_wav[20:22] = struct.pack("<H", 3)
        with self.assertRaises(BadRequest):
            wav_pcm16(bytes(float_wav))


class Voice(unittest.TestCase):
    def test_clauses_keep_their_punctuation(self):
        self.assertEqual(clauses("Hello there, we open at nine. Sunday?"),
                         [("Hello there", ","), ("we open at nine", "."), ("Sunday", "?")])
        self.assertEqual(clauses(" ... "), [])
        self.assertEqual(clauses("no mark"), [("no mark", "")])

    def test_sentences_split_after_their_end(self):
        self.assertEqual(sentences("One. Two! Three? Four"), ["One.", "Two!", "Three?", "Four"])
        self.assertEqual(sentences("   "), [])

    def test_phoneme_ids_are_bos_pad_interleaved_eos(self):
        id_map = {"_": [0], "^": [1], "$": [2], " ": [3], "a": [14], "ˈ": [120]}
        self.assertEqual(phoneme_ids("ˈa a", id_map), [1, 0, 120, 0, 14, 0, 3, 0, 14, 0, 2])
        self.assertEqual(phoneme_ids("?x", id_map), [1, 0, 2], "unknown code points are skipped")

    def test_resampling_keeps_the_duration_and_the_shape(self):
        ramp = [i / 22_050 for i in range(22_050)]
        out = resample_linear(ramp, 22_050, 24_000)
        self.assertEqual(len(out), 24_000)
        self.assertAlmostEqual(out[12_000], 12_000 / 24_000, places=4)
        self.assertEqual(resample_linear([0.5], 24_000, 24_000), [0.5])

    def test_pcm16_clips(self):
        self.assertEqual(pcm16([0.0, 1.0, -1.0, 2.0, -2.0]), struct.pack("<5h", 0, 32767, -32767, 32767, -32767))


if __name__ == "__main__":
    unittest.main()
