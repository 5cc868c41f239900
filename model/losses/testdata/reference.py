#!/usr/bin/python3
"""Reference values for model/losses, computed straight from the equations with explicit loops
over anchors (deliberately not the vectorised mask formulation of losses.go).

Writes reference.json (next to this script, or to the path given as the only argument) with the
inputs and the expected loss of each case. Inputs come from numpy's legacy RandomState, whose
streams are fixed across numpy versions, so re-running reproduces the file.

    /usr/bin/python3 model/losses/testdata/reference.py
"""
import json
import math
import os
import sys

import numpy as np


def normalize(x):
    """tf.math.l2_normalize: x / sqrt(max(sum(x^2), 1e-12))."""
    return x / math.sqrt(max(float(np.sum(x * x)), 1e-12))


def logsumexp(values):
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


def supcon(features, labels, temperature, base_temperature, mode):
    """Khosla et al. 2020 eq. 2 (L_out), scaled by T/base_T, mean over anchors with positives.

    features: [B, V, D]; labels: list of B ints or None (SimCLR: class = image index).
    """
    b, v, _ = features.shape
    # Each sample is (image, view) with its unit vector and class.
    samples = []
    for img in range(b):
        for view in range(v):
            cls = labels[img] if labels is not None else img
            samples.append((img, view, cls, normalize(features[img, view])))
    losses = []
    for i, (img_i, view_i, cls_i, z_i) in enumerate(samples):
        if mode == "one" and view_i != 0:
            continue
        others = [a for a in range(len(samples)) if a != i]               # A(i)
        positives = [p for p in others if samples[p][2] == cls_i]         # P(i)
        if not positives:
            continue
        log_denominator = logsumexp([float(z_i @ samples[a][3]) / temperature for a in others])
        total = 0.0
        for p in positives:
            total += float(z_i @ samples[p][3]) / temperature - log_denominator
        losses.append(-(temperature / base_temperature) * total / len(positives))
    return sum(losses) / len(losses) if losses else 0.0


def npairs(features, labels, temperature):
    """tfa.losses.npairs_loss(labels, z z^T / T) on unit rows z."""
    z = [normalize(f) for f in features]
    b = len(z)
    total = 0.0
    for i in range(b):
        logits = [float(z[i] @ z[j]) / temperature for j in range(b)]
        lse = logsumexp(logits)
        same = [j for j in range(b) if labels[j] == labels[i]]
        total += -sum((logits[j] - lse) / len(same) for j in same)
    return total / b


def cross_entropy(logits, labels, smoothing):
    """Keras CategoricalCrossentropy(label_smoothing) on one-hot(labels), mean over the batch."""
    b, k = logits.shape
    total = 0.0
    for i in range(b):
        lse = logsumexp([float(x) for x in logits[i]])
        for c in range(k):
            target = (1.0 if c == labels[i] else 0.0) * (1 - smoothing) + smoothing / k
            total += -target * (float(logits[i, c]) - lse)
    return total / b


def case(name, loss, x, labels, **params):
    return dict(name=name, loss=loss, dims=list(x.shape), features=[float(f) for f in x.ravel()],
                labels=None if labels is None else [int(l) for l in labels], **params)


def main():
    rng = np.random.RandomState(20200507)
    cases = []

    def add_supcon(name, b, v, d, labels, temperature=0.1, base=0.1, mode="all", zero=()):
        x = rng.randn(b, v, d)
        for img, view in zero:
            x[img, view] = 0
        c = case(name, "supcon", x, labels, temperature=temperature, base_temperature=base,
                 contrast_mode=mode)
        c["expected"] = supcon(x, labels, temperature, base, mode)
        cases.append(c)

    add_supcon("supcon_random_v2", 8, 2, 5, list(rng.randint(0, 3, size=8)))
    add_supcon("supcon_random_v1", 10, 1, 6, list(rng.randint(0, 3, size=10)))
    add_supcon("supcon_singleton_class_v1", 6, 1, 4, [0, 0, 1, 2, 2, 3])
    add_supcon("supcon_singleton_class_v2", 6, 2, 4, [0, 0, 1, 2, 2, 3])
    add_supcon("supcon_all_same_label", 5, 2, 4, [7, 7, 7, 7, 7])
    add_supcon("supcon_no_positives", 5, 1, 4, [0, 1, 2, 3, 4])
    add_supcon("supcon_simclr_v2", 6, 2, 5, None)
    add_supcon("supcon_simclr_v3_one", 4, 3, 5, None, mode="one")
    add_supcon("supcon_contrast_one_v2", 8, 2, 5, list(rng.randint(0, 3, size=8)), mode="one")
    add_supcon("supcon_contrast_one_v3", 6, 3, 4, list(rng.randint(0, 2, size=6)), mode="one")
    add_supcon("supcon_paper_temperature", 8, 2, 5, list(rng.randint(0, 3, size=8)),
               temperature=0.07, base=0.07)
    add_supcon("supcon_scaled_temperature", 8, 2, 5, list(rng.randint(0, 3, size=8)),
               temperature=0.5, base=0.07)
    # exp(2/T) = exp(200) overflows float32: the Go float32 run must stay finite and close.
    add_supcon("supcon_small_temperature", 8, 2, 5, list(rng.randint(0, 3, size=8)),
               temperature=0.01, base=0.07)
    add_supcon("supcon_lone_sample", 1, 1, 4, [3])
    add_supcon("supcon_zero_vector", 5, 2, 4, [0, 1, 0, 1, 1], zero=[(1, 0), (3, 1)])

    def add_npairs(name, b, d, labels, temperature=0.1):
        x = rng.randn(b, d)
        c = case(name, "npairs", x, labels, temperature=temperature)
        c["expected"] = npairs(x, labels, temperature)
        cases.append(c)

    add_npairs("npairs_random", 8, 6, list(rng.randint(0, 3, size=8)))
    add_npairs("npairs_singletons", 6, 4, [0, 1, 1, 2, 3, 3], temperature=0.05)
    add_npairs("npairs_all_same", 4, 3, [2, 2, 2, 2], temperature=1.0)

    def add_ce(name, b, k, smoothing):
        x = 3 * rng.randn(b, k)
        labels = list(rng.randint(0, k, size=b))
        c = case(name, "cross_entropy", x, labels, label_smoothing=smoothing)
        c["expected"] = cross_entropy(x, labels, smoothing)
        cases.append(c)

    add_ce("ce_plain", 7, 5, 0.0)
    add_ce("ce_smoothing", 7, 5, 0.1)
    add_ce("ce_full_smoothing", 3, 4, 1.0)

    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                              "reference.json")
    with open(out, "w") as f:
        json.dump({"generator": "reference.py", "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
