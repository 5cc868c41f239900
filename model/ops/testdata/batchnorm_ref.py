#!/usr/bin/python3
"""Reference values for ops.BatchNorm (batchnorm_test.go), computed independently with numpy.

Normalise over all axes but the last with the batch mean and biased variance in training;
moving = momentum*moving + (1-momentum)*batch, with the unbiased batch variance for the moving
variance (as torch.nn.BatchNorm2d and TF's fused batch norm); inference uses the moving statistics. Run: /usr/bin/python3 batchnorm_ref.py > batchnorm_ref.json
"""
import json

import numpy as np

rng = np.random.default_rng(20261203)
shape = (2, 3, 3, 4)
momentum, eps = 0.9, 1e-3
x = rng.normal(1.5, 2.0, size=shape)
scale = rng.uniform(0.5, 1.5, size=shape[-1])
offset = rng.uniform(-1, 1, size=shape[-1])
moving_mean = rng.uniform(-1, 1, size=shape[-1])
moving_var = rng.uniform(0.5, 2, size=shape[-1])

axes = tuple(range(len(shape) - 1))
batch_mean = x.mean(axis=axes)
batch_var = x.var(axis=axes)  # biased (ddof=0): what normalises the batch
unbiased_var = x.var(axis=axes, ddof=1)  # what the moving average accumulates
y_train = (x - batch_mean) / np.sqrt(batch_var + eps) * scale + offset
y_infer = (x - moving_mean) / np.sqrt(moving_var + eps) * scale + offset

out = dict(
    shape=list(shape), momentum=momentum, epsilon=eps,
    x=x.ravel().tolist(), scale=scale.tolist(), offset=offset.tolist(),
    moving_mean=moving_mean.tolist(), moving_var=moving_var.tolist(),
    y_train=y_train.ravel().tolist(),
    new_moving_mean=(momentum * moving_mean + (1 - momentum) * batch_mean).tolist(),
    new_moving_var=(momentum * moving_var + (1 - momentum) * unbiased_var).tolist(),
    y_infer=y_infer.ravel().tolist(),
)
print(json.dumps(out))
