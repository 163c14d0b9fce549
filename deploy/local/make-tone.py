#!/usr/bin/env python3
"""Write an 8 kHz G.711 mu-law WAV of a gentle two-tone chime (the sandbox carrier's audio).
Usage: make-tone.py OUT.wav [seconds]"""
import math
import struct
import sys


def ulaw(sample):
    """Linear 16-bit sample to G.711 mu-law (ITU-T G.711 segment encoding)."""
    sign = 0x80 if sample < 0 else 0
    mag = min(abs(sample), 32635) + 0x84
    exp = 7
    while exp > 0 and not mag & (0x4000 >> (7 - exp)):
        exp -= 1
    return ~(sign | (exp << 4) | ((mag >> (exp + 3)) & 0x0F)) & 0xFF


def main():
    out, secs = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 4.0
    rate = 8000
    frames = bytearray()
    for i in range(int(rate * secs)):
        t = i / rate
        phase = t % 2.0  # 440 Hz then 660 Hz, half a second each, then silence
        f = 440 if phase < 0.5 else 660 if phase < 1.0 else 0
        frames.append(ulaw(int(6000 * math.sin(2 * math.pi * f * t)) if f else 0))
    fmt = struct.pack("<HHIIHH", 7, 1, rate, rate, 1, 8)  # format 7 = mu-law
    with open(out, "wb") as w:
        w.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(frames)) + b"WAVE")
        w.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
        w.write(b"data" + struct.pack("<I", len(frames)) + frames)


if __name__ == "__main__":
    main()
