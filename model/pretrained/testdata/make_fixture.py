#!/usr/bin/python3
"""Builds the parity fixture for model/pretrained: a reduced torchvision EfficientNet with random
weights and random batch-norm statistics, its weights in torchvision's and in timm's naming, and its
eval-mode pooled features on a fixed input.

Run with Debian's Python (python3-torch, python3-torchvision):

    /usr/bin/python3 model/pretrained/testdata/make_fixture.py [--out DIR]

Outputs (in DIR, default: this script's directory):
  tiny_torchvision.safetensors       state dict as torchvision names it (classifier included)
  tiny_efficientnet_timm.safetensors the same tensors under timm's efficientnet_bN names
  tiny_io.safetensors                "images" NHWC float32 input, "features" the pooled features
                                     (after avgpool+flatten, before the classifier), "features_tf"
                                     those of the same weights run as timm's tf_efficientnet (SAME
                                     padding, BN eps 1e-3); the metadata records the architecture
                                     so the Go test builds the same one.

Debian has no python3-safetensors: the files are written by ../convert_torchvision.py's writer.
"""
import argparse
import copy
import math
import os
import sys

import torch
from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf

sys.dont_write_bytecode = True  # tests run this script: leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from convert_torchvision import write_safetensors  # noqa: E402  (one writer for both scripts)

WIDTH_MULT = 0.1
DEPTH_MULT = 0.34
# torchvision's EfficientNet defaults to nn.BatchNorm2d(eps=1e-5) (b0-b4 and custom configurations).
BN_EPS = 1e-5
# Odd spatial sizes on purpose: stride-2 stages then see odd inputs, as B3 does at 300x300
# (75 -> 38), which is where symmetric and SAME padding and their rounding differ.
INPUT_SHAPE = (2, 3, 35, 33)
SEED = 20261203

def timm_name(name, has_expand):
    """Renames one torchvision EfficientNet tensor to timm's efficientnet_bN naming.

    has_expand(stage, block) says whether that block has an expansion convolution: timm uses
    DepthwiseSeparableConv (conv_dw, bn1, se, conv_pw, bn2) for expand ratio 1 and
    InvertedResidual (conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3) otherwise.
    """
    parts = name.split(".")
    if parts[0] == "classifier":
        return "classifier." + parts[-1]
    assert parts[0] == "features", name
    idx = int(parts[1])
    if idx == 0:
        return ("conv_stem." if parts[2] == "0" else "bn1.") + parts[-1]
    if idx == HEAD_INDEX:
        return ("conv_head." if parts[2] == "0" else "bn2.") + parts[-1]
    # features.S.B.block.I.<rest>
    block, sub, rest = int(parts[2]), int(parts[4]), parts[5:]
    prefix = f"blocks.{idx - 1}.{block}."
    if has_expand(idx, block):
        role = ["expand", "depthwise", "se", "project"][sub]
        modules = {"expand": ("conv_pw", "bn1"), "depthwise": ("conv_dw", "bn2"), "project": ("conv_pwl", "bn3")}
    else:
        role = ["depthwise", "se", "project"][sub]
        modules = {"depthwise": ("conv_dw", "bn1"), "project": ("conv_pw", "bn2")}
    if role == "se":
        layer = {"fc1": "conv_reduce", "fc2": "conv_expand"}[rest[0]]
        return prefix + "se." + layer + "." + rest[1]
    conv, bn = modules[role]
    # Conv2dNormActivation: ".0" is the convolution, ".1" the batch norm.
    return prefix + (conv if rest[0] == "0" else bn) + "." + rest[-1]


HEAD_INDEX = 8


def randomize(net, input_shape):
    """Random affine parameters, SE biases and batch-norm statistics, then eval mode."""
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0.0, 0.2)
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.normal_(0.0, 0.2)  # SE biases, zero by default
        # Statistics must be random (with mean 0 / var 1 a loader that dropped them would pass)
        # yet keep the signal alive: with arbitrary ones the tiny network's activations die out
        # and its output no longer depends on the input (nor on padding). So measure them on
        # random batches (momentum None: plain average), then perturb them.
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
        net.train()
        for _ in range(4):
            net.features(torch.randn(8, *input_shape[1:]))
        for m in bns:
            m.momentum = 0.1
            m.running_mean.add_(torch.randn_like(m.running_mean) * 0.2 * m.running_var.sqrt())
            m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.7, 1.4))
            m.num_batches_tracked.fill_(1000)
    net.eval()


def pooled_features(net, x):
    """EfficientNet's output before the classifier: features, avgpool, flatten."""
    with torch.no_grad():
        return torch.flatten(net.avgpool(net.features(x)), 1)


def as_tf_efficientnet(net):
    """A copy of net computing what timm's tf_efficientnet does with the same weights:
    TensorFlow SAME padding (total max((ceil(in/s)-1)*s + k - in, 0), the odd pixel after, as
    timm's Conv2dSame) and batch-norm epsilon 1e-3."""
    net = copy.deepcopy(net)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = 1e-3
        elif isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1):
            m.padding = (0, 0)
            m.forward = _same_padded(m.forward, m.kernel_size, m.stride)
    return net


def _same_padded(conv_forward, kernel, stride):
    def forward(x):
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(kernel), reversed(stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]  # F.pad order: W before/after, H before/after
        return conv_forward(torch.nn.functional.pad(x, pads))
    return forward


def write_io(path, x, feats, extra=(), **metadata):
    write_safetensors(path, [("images", x.permute(0, 2, 3, 1)), ("features", feats)] + list(extra),
                      metadata=dict(metadata, torch=torch.__version__))


def full_size(arch, out):
    """--arch: torchvision's full-size model, for TestTorchvisionFullSize (not committed)."""
    import torchvision
    net = getattr(torchvision.models, arch)()
    randomize(net, FULL_INPUT_SHAPE)
    x = torch.randn(*FULL_INPUT_SHAPE)
    torch.save(net.state_dict(), os.path.join(out, arch + ".pth"))
    # Float64 reference: torch's own float32 result is 3e-3 off it for B3 (features up to ~140,
    # after 26 blocks of random statistics), too loose to tell a bug from rounding. The Go test
    # runs our model in float64 too.
    feats = pooled_features(net.double(), x.double())
    write_io(os.path.join(out, arch + "_io.safetensors"), x, feats, arch=arch)


# Full-size models get one image, again of odd size.
FULL_INPUT_SHAPE = (1, 3, 71, 65)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--arch", help="write torchvision's full-size ARCH (efficientnet_b3) as ARCH.pth and "
                    "ARCH_io.safetensors instead of the reduced fixture")
    args = ap.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)

    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # reproducible reductions
    if args.arch:
        full_size(args.arch, out)
        return
    setting, last_channel = _efficientnet_conf("efficientnet_b0", width_mult=WIDTH_MULT, depth_mult=DEPTH_MULT)
    net = EfficientNet(setting, dropout=0.2, last_channel=last_channel, num_classes=10,
                       norm_layer=lambda c: torch.nn.BatchNorm2d(c, eps=BN_EPS))
    assert len(net.features) == HEAD_INDEX + 1
    randomize(net, INPUT_SHAPE)
    x = torch.randn(*INPUT_SHAPE)
    feats = pooled_features(net, x)

    sd = net.state_dict()
    names = list(sd.keys())
    expanded = {(int(n.split(".")[1]), int(n.split(".")[2]))
                for n in names if n.startswith("features.") and ".block.3." in n}
    has_expand = lambda s, b: (s, b) in expanded  # noqa: E731

    write_safetensors(os.path.join(out, "tiny_torchvision.safetensors"), [(n, sd[n]) for n in names])
    timm = [(timm_name(n, has_expand), sd[n]) for n in names]
    assert len({n for n, _ in timm}) == len(timm), "timm renaming collided"
    write_safetensors(os.path.join(out, "tiny_efficientnet_timm.safetensors"), timm)
    # The timm file read as tf_efficientnet weights must give these.
    feats_tf = pooled_features(as_tf_efficientnet(net), x)
    write_io(os.path.join(out, "tiny_io.safetensors"), x, feats, [("features_tf", feats_tf)],
             width_mult=WIDTH_MULT, depth_mult=DEPTH_MULT, bn_eps=BN_EPS)
    print("features", tuple(feats.shape), "mean |f| = %.4f" % feats.abs().mean().item(),
          "params", sum(t.numel() for t in sd.values()))


if __name__ == "__main__":
    main()
