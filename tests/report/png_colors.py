"""Counts the pixels of given colours in a PNG screenshot, with Python's standard library only.

Usage: python3 png_colors.py FILE.png RRGGBB [RRGGBB ...]
Prints one line of JSON: {"width": W, "height": H, "distinct": N, "counts": {"RRGGBB": n, ...}}.
Reads 8-bit RGB or RGBA, non-interlaced PNGs (what Chromium writes).
"""
import json
import struct
import sys
import zlib


def pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            if depth != 8 or colour not in (2, 6) or interlace:
                sys.exit(f"{path}: unsupported PNG (depth {depth}, colour {colour}, interlace {interlace})")
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    out = []
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.append(bytes(line))
        prev = line
    return width, height, bpp, out


def main():
    path, wanted = sys.argv[1], [c.lower().lstrip("#") for c in sys.argv[2:]]
    width, height, bpp, rows = pixels(path)
    counts = {c: 0 for c in wanted}
    targets = {bytes.fromhex(c): c for c in wanted}
    distinct = set()
    for row in rows:
        for x in range(0, width * bpp, bpp):
            rgb = row[x:x + 3]
            distinct.add(rgb)
            if rgb in targets:
                counts[targets[rgb]] += 1
    print(json.dumps({"width": width, "height": height, "distinct": len(distinct), "counts": counts}))


if __name__ == "__main__":
    main()
