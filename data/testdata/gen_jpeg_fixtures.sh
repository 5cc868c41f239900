#!/bin/sh
# Regenerates the JPEG fixtures Go's image/jpeg encoder cannot write (progressive, CMYK), from the
# quadrant pattern the tests also know (decode_test.go: quadrantColours). Needs python3, cjpeg
# (Debian libjpeg-turbo-progs) and gcc with libjpeg headers (libjpeg62-turbo-dev). Run in this directory.
set -e
python3 - <<'PY'
w, h = 32, 24
cols = [(220, 30, 30), (30, 200, 40), (30, 40, 210), (240, 240, 240)]  # TL, TR, BL, BR
px = bytearray()
for y in range(h):
    for x in range(w):
        px += bytes(cols[(y >= h // 2) * 2 + (x >= w // 2)])
open("/tmp/quadrants.ppm", "wb").write(b"P6 %d %d 255\n" % (w, h) + px)
PY
cjpeg -quality 95 -progressive -outfile progressive.jpg /tmp/quadrants.ppm
cjpeg -quality 95 -grayscale -outfile grayscale.jpg /tmp/quadrants.ppm
gcc -O1 -o /tmp/cmykjpeg cmykjpeg.c -ljpeg
/tmp/cmykjpeg cmyk.jpg
# The WebP fixtures (lossless and lossy q95 of the same pattern) need Debian's python3-pil (libwebp).
/usr/bin/python3 - <<'PY'
from PIL import Image
im = Image.open("/tmp/quadrants.ppm")
im.save("lossless.webp", lossless=True)
im.save("lossy.webp", quality=95)
PY
