#!/usr/bin/python3
"""Converts a torchvision EfficientNet checkpoint (.pth state dict) to .safetensors for the Go
trainer's -weights flag (package model/pretrained).

    /usr/bin/python3 model/pretrained/convert_torchvision.py efficientnet_b3_rwightman-cf984f9c.pth efficientnet_b3.safetensors

The .pth files are torchvision's ImageNet weights, e.g. for B3
https://download.pytorch.org/models/efficientnet_b3_rwightman-cf984f9c.pth (torchvision also
caches them in ~/.cache/torch/hub/checkpoints/ after models.efficientnet_b3(weights="DEFAULT")).
With --arch efficientnet_b3 the state dict is first checked against torchvision's model.

Needs only python3-torch (and python3-torchvision for --arch): Debian has no python3-safetensors,
so the format (8-byte little-endian header length, JSON header, raw little-endian data) is
written here; make_fixture.py uses the same writer.
"""
import argparse
import json
import struct
import sys

import torch

_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
           torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}


def write_safetensors(path, tensors, metadata=None):
    """Writes tensors, a list of (name, tensor), in that order."""
    assert sys.byteorder == "little", "safetensors data is little-endian"
    header, chunks, offset = {}, [], 0
    for name, t in tensors:
        t = t.detach().contiguous().cpu()
        # bfloat16 has no numpy type: write its 16-bit pattern.
        data = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the reference writer pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for c in chunks:
            f.write(c)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pth", help="torchvision EfficientNet state dict (.pth)")
    ap.add_argument("out", help="output .safetensors")
    ap.add_argument("--arch", help="torchvision model name (efficientnet_b3) to check the state dict against")
    args = ap.parse_args()
    sd = torch.load(args.pth, map_location="cpu")
    if args.arch:
        import torchvision
        getattr(torchvision.models, args.arch)().load_state_dict(sd, strict=True)
    write_safetensors(args.out, list(sd.items()), {"format": "pt", "source": args.pth})
    print(f"wrote {len(sd)} tensors to {args.out}")


if __name__ == "__main__":
    main()
