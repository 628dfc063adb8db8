#!/usr/bin/env python3
"""Screenshots of a stress report, one PNG per part of the page, at 1280 px wide.

usage: shoot.py REPORT.html OUTDIR CHROMIUM

The page is split at its <section> elements (the part before the first is the headline); each part
is rendered alone (same <head>, so the same styles) by headless Chromium in a 1280 px window, and
the blank space below it is trimmed. Standard library only (zlib for the PNGs).
"""
import os, re, struct, subprocess, sys, tempfile, zlib


def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, "expects 8-bit RGB(A), not interlaced"
            bpp = 4 if color == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line) if bpp == 3 else bytes(v for j, v in enumerate(line) if j % 4 != 3))
        prev = line
    return width, rows


def write_png(path, width, rows):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    raw = bytearray()
    for row in rows:  # filter 1 (Sub): flat UI colours compress well
        raw.append(1)
        raw += bytes((row[i] - (row[i - 3] if i >= 3 else 0)) & 255 for i in range(len(row)))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, len(rows), 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(png)


def trim(rows, margin=16):
    white = b"\xff" * len(rows[0])
    last = max((i for i, r in enumerate(rows) if r != white), default=0)
    return rows[:min(len(rows), last + 1 + margin)]


def main(report, outdir, chromium):
    html = open(report, encoding="utf-8").read()
    head, body = html.split("<body>", 1)
    parts = [("headline", body.split("<section", 1)[0])]
    parts += [(m.group(1), m.group(0)) for m in re.finditer(r'<section id="sec-([a-z-]+)">.*?</section>', body, re.S)]
    with tempfile.TemporaryDirectory() as tmp:
        for name, fragment in parts:
            if name == "runs":
                continue  # a table, not a picture
            page, shot = os.path.join(tmp, name + ".html"), os.path.join(tmp, name + ".png")
            open(page, "w", encoding="utf-8").write(head + "<body>" + fragment + "</body></html>")
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2400",
                            "--screenshot=" + shot, "file://" + page], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            width, rows = read_png(shot)
            out = os.path.join(outdir, "stress-report-" + name + ".png")
            write_png(out, width, trim(rows))
            print(out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
