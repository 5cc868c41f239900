#!/usr/bin/env python3
"""Independent reference for augment's identity resize.

Builds a deterministic 37x29 RGB uint8 image and resizes it to 24x20 with
classic half-pixel bilinear interpolation (pixel centres at i+0.5, edge pixels
repeated; torch.nn.functional.interpolate(mode="bilinear",
align_corners=False, antialias=False) semantics), written here with numpy
only. Output: bilinear_ref.json with the image and the float result in [0,255].
Run: /usr/bin/python3 bilinear_ref.py
"""
import json
import numpy as np

H, W = 29, 37
OH, OW = 20, 24
y, x = np.mgrid[0:H, 0:W]
img = np.stack([
    (x * 7 + y * 3) % 256,
    (128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)).round(),
    (x * y) % 256,
], axis=-1).astype(np.uint8)


def axis(n_out, n_in):
    c = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    c = np.clip(c, 0, n_in - 1)
    i0 = np.floor(c).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, c - i0


y0, y1, fy = axis(OH, H)
x0, x1, fx = axis(OW, W)
f = img.astype(np.float64)
top = f[y0][:, x0] * (1 - fx)[None, :, None] + f[y0][:, x1] * fx[None, :, None]
bot = f[y1][:, x0] * (1 - fx)[None, :, None] + f[y1][:, x1] * fx[None, :, None]
out = top * (1 - fy)[:, None, None] + bot * fy[:, None, None]

with open("bilinear_ref.json", "w") as fh:
    json.dump({"width": W, "height": H, "out_width": OW, "out_height": OH,
               "pixels": img.reshape(-1).tolist(),
               "resized": [round(v, 4) for v in out.reshape(-1).tolist()]}, fh)
