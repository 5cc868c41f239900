#!/usr/bin/env python3
"""torchvision peer of data/bench_test.go: the same decode + augment + batch
work as supcon's Go pipeline, timed on one thread.

Per image: read the JPEG, decode it (torchvision.io.decode_jpeg, i.e.
libjpeg-turbo; PIL with --decoder pil), then the counterpart of
augment.Default(512): RandomResizedCrop to 512 (scale .36-1, ratio 3/4-4/3,
applied with p .7, else a plain resize), horizontal and vertical flips,
RandomAffine (±180°, shear 15, scale .9-1.1, translate .08, p .8), ColorJitter
(brightness .1, contrast .2, saturation .3), float conversion, ImageNet
Normalize, RandomErasing (p .5); images are stacked into batches.

--mode decode times the decode alone. Prints one JSON line:
{"mode": ..., "images": N, "seconds": S, "img_per_s": R}
Run: /usr/bin/python3 torchvision_peer.py --images DIR --n 64
"""
import argparse
import glob
import json
import os
import time

import torch
import torchvision
from torchvision import transforms as T
from torchvision.io import decode_jpeg, read_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", required=True, help="directory of .jpg files")
    ap.add_argument("--n", type=int, default=64, help="images to process (files are cycled)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--mode", choices=["augment", "decode"], default="augment")
    ap.add_argument("--decoder", choices=["torchvision", "pil"], default="torchvision")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    files = sorted(glob.glob(os.path.join(args.images, "*.jpg")))
    if not files:
        raise SystemExit(f"no .jpg files in {args.images}")
    raw = [read_file(f) for f in files]  # bytes in memory, as the Go side

    if args.decoder == "pil":
        import io

        import numpy as np
        from PIL import Image

        blobs = [open(f, "rb").read() for f in files]

        def decode(i):
            img = Image.open(io.BytesIO(blobs[i % len(blobs)])).convert("RGB")
            return torch.from_numpy(np.asarray(img)).permute(2, 0, 1)
    else:
        def decode(i):
            return decode_jpeg(raw[i % len(raw)])

    s = args.size
    augment = T.Compose([
        T.RandomChoice([T.RandomResizedCrop(s, scale=(0.36, 1.0), ratio=(3 / 4, 4 / 3), antialias=False),
                        T.Resize((s, s), antialias=False)], p=[0.7, 0.3]),
        T.RandomHorizontalFlip(),
        T.RandomVerticalFlip(),
        T.RandomApply([T.RandomAffine(degrees=180, translate=(0.08, 0.08), scale=(0.9, 1.1), shear=15,
                                      interpolation=T.InterpolationMode.BILINEAR)], p=0.8),
        T.ColorJitter(brightness=0.1, contrast=0.2, saturation=0.3),
        T.ConvertImageDtype(torch.float32),
        T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        T.RandomErasing(p=0.5, value=0),
    ])

    # Warm up (first calls allocate and pick kernels).
    for i in range(min(3, args.n)):
        x = decode(i)
        if args.mode == "augment":
            augment(x)

    t0 = time.perf_counter()
    batch = []
    for i in range(args.n):
        x = decode(i)
        if args.mode == "augment":
            batch.append(augment(x))
            if len(batch) == args.batch:
                torch.stack(batch).permute(0, 2, 3, 1).contiguous()  # [B,H,W,3] as ours
                batch = []
    if batch:
        torch.stack(batch).permute(0, 2, 3, 1).contiguous()
    dt = time.perf_counter() - t0
    print(json.dumps({"mode": args.mode, "decoder": args.decoder, "images": args.n, "seconds": dt,
                      "img_per_s": args.n / dt, "torchvision": torchvision.__version__}))


if __name__ == "__main__":
    main()
