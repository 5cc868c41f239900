#!/usr/bin/python3
"""Reference values for ops.Conv / ops.Depthwise (conv_ref_test.go), computed with PyTorch.

PyTorch is NCHW / OIHW; the ops are NHWC / HWIO (depthwise [kh,kw,1,C]). The fixture stores the
inputs and outputs in the ops' layouts, so the test also pins the layout conversion that loading
torchvision/timm weights relies on. TF "SAME" padding is applied explicitly with F.pad, following
TensorFlow's definition: out = ceil(in/s), total = max((out-1)*s + k - in, 0), before = total//2.
Run: /usr/bin/python3 conv_ref.py > conv_ref.json
"""
import json
import math

import torch
import torch.nn.functional as F

torch.manual_seed(20261203)


def same_pads(n, k, s):
    out = math.ceil(n / s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def case(name, b, h, w, cin, cout, k, stride, padding, depthwise):
    x = torch.randn(b, cin, h, w, dtype=torch.float64)
    groups = cin if depthwise else 1
    weight = torch.randn(cout, cin // groups, k, k, dtype=torch.float64)  # OIHW
    if padding == "same":
        ph, pw = same_pads(h, k, stride), same_pads(w, k, stride)
        y = F.conv2d(F.pad(x, (pw[0], pw[1], ph[0], ph[1])), weight, stride=stride, groups=groups)
    else:  # PyTorch's symmetric (k-1)//2
        y = F.conv2d(x, weight, stride=stride, padding=(k - 1) // 2, groups=groups)
    return dict(
        name=name, depthwise=depthwise, stride=stride, padding=padding,
        x_dims=[b, h, w, cin], x=x.permute(0, 2, 3, 1).contiguous().view(-1).tolist(),
        # OIHW -> HWIO; for depthwise O=C, I=1, so this is [kh,kw,1,C].
        k_dims=[k, k, cin // groups, cout], k=weight.permute(2, 3, 1, 0).contiguous().view(-1).tolist(),
        y_dims=[b, y.shape[2], y.shape[3], cout], y=y.permute(0, 2, 3, 1).contiguous().view(-1).tolist(),
    )


cases = [
    case("dense_k3_s2_same_odd", 2, 7, 6, 3, 4, 3, 2, "same", False),
    case("dense_k5_s1_symmetric", 2, 6, 6, 3, 4, 5, 1, "symmetric", False),
    case("dense_k3_s2_symmetric_even", 1, 8, 8, 3, 5, 3, 2, "symmetric", False),
    case("depthwise_k5_s2_same", 2, 7, 8, 4, 4, 5, 2, "same", True),
    case("depthwise_k3_s1_symmetric", 2, 6, 5, 4, 4, 3, 1, "symmetric", True),
    case("depthwise_k3_s2_same_even", 1, 8, 8, 6, 6, 3, 2, "same", True),
]
print(json.dumps(dict(torch_version=torch.__version__, cases=cases)))
