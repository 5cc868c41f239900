#!/usr/bin/env python3
"""Independent reference for augment's geometry conventions: torchvision's
own functional ops on a smooth 48x40 RGB image.

  rotate_30, rotate_m75: F.rotate(img, angle, BILINEAR) (counter-clockwise,
      about the image centre, fill 0)
  hflip_rotate_30: F.rotate(F.hflip(img), 30)  (flip first, as Params.Forward)
  resized_crop: F.resized_crop(img, top=5, left=7, height=30, width=33,
      size=[20, 24], BILINEAR, antialias=False)

Writes torchvision_ref.json (pixels as uint8 lists, HWC).
Run: /usr/bin/python3 torchvision_ref.py
"""
import json

import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

H, W = 40, 48
y, x = np.mgrid[0:H, 0:W].astype(np.float64)
img = np.stack([
    128 + 100 * np.sin(x / 7.0 + 0.3) * np.cos(y / 9.0),
    40 + 180 * (x / W) * (y / H),
    128 + 90 * np.cos(y / 6.0 - x / 11.0),
], axis=-1).round().clip(0, 255).astype(np.uint8)
t = torch.from_numpy(img).permute(2, 0, 1).contiguous()


def hwc(v):
    return v.permute(1, 2, 0).contiguous().numpy().reshape(-1).tolist()


bil = InterpolationMode.BILINEAR
out = {
    "torchvision": torchvision.__version__,
    "width": W, "height": H,
    "pixels": img.reshape(-1).tolist(),
    "rotate_30": hwc(F.rotate(t, 30.0, interpolation=bil)),
    "rotate_m75": hwc(F.rotate(t, -75.0, interpolation=bil)),
    "hflip_rotate_30": hwc(F.rotate(F.hflip(t), 30.0, interpolation=bil)),
    "resized_crop": hwc(F.resized_crop(t, 5, 7, 30, 33, [20, 24], interpolation=bil, antialias=False)),
}
with open("torchvision_ref.json", "w") as fh:
    json.dump(out, fh)
