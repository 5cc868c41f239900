#!/usr/bin/python3
"""Independent reference values for package model's EfficientNet, from torchvision.

Writes efficientnet_reference.json (next to this script, or to the path given as the only argument):

- "architectures": for b0..b7, torchvision's channel counts, blocks per stage and parameter
  counts of `features` (trainable, and batch-norm running mean+variance elements), overall and per
  part (features.0 = stem, features.1..7 = stages, features.8 = head conv).
- "tiny": pooled features of a tiny EfficientNet (width 0.25, depth 0.34) whose every parameter
  and input is given by the deterministic formula below, which the Go test reproduces under its
  own variable names; in inference with torchvision's symmetric padding, in inference with
  TensorFlow SAME padding (emulated by padding before each k>1 convolution, as timm does), and in
  training mode (batch statistics; stochastic depth off).

Batch norm uses eps=1e-3 (Keras'; torchvision's B0-B4 use 1e-5) to match package model.

Run: /usr/bin/python3 model/testdata/efficientnet_reference.py  (torch 1.13, torchvision 0.14)
TestReferenceScriptReproduces re-runs it.
"""
import json
import math
import os
import sys
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import efficientnet as tv

SCALING = {  # width, depth (torchvision's table, same as the paper's)
    "b0": (1.0, 1.0), "b1": (1.0, 1.1), "b2": (1.1, 1.2), "b3": (1.2, 1.4),
    "b4": (1.4, 1.8), "b5": (1.6, 2.2), "b6": (1.8, 2.6), "b7": (2.0, 3.1),
}
BN = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)


def build(width, depth, stochastic_depth=0.2):
    setting, last_channel = tv._efficientnet_conf("efficientnet_b0", width_mult=width, depth_mult=depth)
    return tv.EfficientNet(setting, dropout=0.2, stochastic_depth_prob=stochastic_depth, norm_layer=BN,
                           last_channel=last_channel)


def architecture(model):
    f = model.features
    out = {"stem": f[0][0].out_channels, "head": f[8][0].out_channels,
           "stage_out": [f[s][-1].out_channels for s in range(1, 8)],
           "repeats": [len(f[s]) for s in range(1, 8)], "part_trainable": [], "part_bn_stats": []}
    for part in f:
        out["part_trainable"].append(sum(p.numel() for p in part.parameters() if p.requires_grad))
        out["part_bn_stats"].append(sum(m.running_mean.numel() + m.running_var.numel()
                                        for m in part.modules() if isinstance(m, nn.BatchNorm2d)))
    out["trainable"] = sum(out["part_trainable"])
    out["bn_stats"] = sum(out["part_bn_stats"])
    return out


# --- Deterministic values, reproduced by model/efficientnet_helpers_test.go -------------------

def seed(name):
    return sum((j + 1) * ord(c) for j, c in enumerate(name)) % 997


MASK = (1 << 64) - 1


def uniform(key, n):
    """n values uniform in [-1, 1): splitmix64 of key*1000003 + i, top 24 bits (exact in Go too)."""
    z = np.arange(n, dtype=np.uint64) + np.uint64((key * 1000003) & MASK)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24) * 2 - 1


def values(name, dims):
    """Values of our variable `name` (relative to the encoder scope) in OUR layout `dims`."""
    n = int(np.prod(dims))
    base = uniform(seed(name), n)
    kind = name.rsplit("/", 1)[1]
    if kind == "weights":  # uniform with He's variance 2/fan_in
        fan_in = int(np.prod(dims[:-1]))
        v = base * math.sqrt(6.0 / fan_in)
    elif kind == "scale":
        v = 1 + 0.2 * base
    elif kind == "variance":
        v = 1 + 0.5 * base
    else:  # biases, offset, mean
        v = 0.1 * base
    return v.astype(np.float32).reshape(dims)


def images(dims):
    return uniform(0, int(np.prod(dims))).astype(np.float32).reshape(dims)  # NHWC


def set_conv(conv, name, pointwise):
    w = conv.weight  # OIHW
    o, i, kh, kw = w.shape
    if pointwise:  # ours [Cin, Cout]
        ours = values(name, [i, o])
        t = ours.T.reshape(o, i, 1, 1)
    elif conv.groups > 1:  # depthwise, ours [k, k, 1, C]
        ours = values(name, [kh, kw, 1, o])
        t = ours.transpose(3, 2, 0, 1)
    else:  # ours HWIO
        ours = values(name, [kh, kw, i, o])
        t = ours.transpose(3, 2, 0, 1)
    w.data = torch.from_numpy(np.ascontiguousarray(t))


def set_bn(bn, prefix):
    c = bn.num_features
    bn.weight.data = torch.from_numpy(values(prefix + "/scale", [c]))
    bn.bias.data = torch.from_numpy(values(prefix + "/offset", [c]))
    bn.running_mean.data = torch.from_numpy(values(prefix + "/mean", [c]))
    bn.running_var.data = torch.from_numpy(values(prefix + "/variance", [c]))


def set_dense(conv, prefix):  # SE's 1x1 convolutions with bias, ours [in, out] + [out]
    o, i = conv.weight.shape[:2]
    conv.weight.data = torch.from_numpy(np.ascontiguousarray(values(prefix + "/weights", [i, o]).T.reshape(o, i, 1, 1)))
    conv.bias.data = torch.from_numpy(values(prefix + "/biases", [o]))


def set_conv_bn(cna, prefix, pointwise):  # Conv2dNormActivation: [conv, bn, (act)]
    set_conv(cna[0], prefix + "/conv/weights", pointwise)
    set_bn(cna[1], prefix + "/bn")


def fill(model):
    f = model.features
    set_conv_bn(f[0], "stem", False)
    for s in range(1, 8):
        for b, block in enumerate(f[s]):
            p = f"stage{s}/block{b}"
            layers = list(block.block)
            if len(layers) == 4:
                set_conv_bn(layers.pop(0), p + "/expand", True)
            dw, se, proj = layers
            set_conv_bn(dw, p + "/depthwise", False)
            set_dense(se.fc1, p + "/se/reduce")
            set_dense(se.fc2, p + "/se/expand")
            set_conv_bn(proj, p + "/project", True)
    set_conv_bn(f[8], "head", True)


def tf_same(model):
    """Replaces the symmetric padding of every k>1 convolution with TensorFlow's SAME."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1:
            k, s = m.kernel_size[0], m.stride[0]
            m.padding = (0, 0)

            def pad(mod, inputs, k=k, s=s):
                x = inputs[0]
                pads = []
                for size in (x.shape[3], x.shape[2]):  # F.pad wants the last axis (W) first
                    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                    pads += [total // 2, total - total // 2]
                return (F.pad(x, pads),)

            m.register_forward_pre_hook(pad)


def pooled(model, x_nhwc):
    x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        return model.avgpool(model.features(x)).flatten(1).numpy().astype(float).tolist()


def main():
    ref = {"architectures": {}}
    for name, (w, d) in SCALING.items():
        ref["architectures"][name] = architecture(build(w, d))
    width, depth, dims = 0.25, 0.34, [2, 32, 40, 3]
    x = images(dims)
    tiny = {"width": width, "depth": depth, "images": dims}
    model = build(width, depth, stochastic_depth=0.0)
    fill(model)
    model.eval()
    tiny["symmetric_inference"] = pooled(model, x)
    model.train()
    tiny["symmetric_training"] = pooled(model, x)
    model = build(width, depth, stochastic_depth=0.0)
    fill(model)
    tf_same(model)
    model.eval()
    tiny["same_inference"] = pooled(model, x)
    ref["tiny"] = tiny
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                              "efficientnet_reference.json")
    with open(path, "w") as fh:
        json.dump(ref, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
