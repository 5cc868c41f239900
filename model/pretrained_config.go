package model

// BatchNormEpsilon is the epsilon of every batch norm of the encoder (Keras' 1e-3). It is
// exported for model/pretrained: weights trained with another epsilon (torchvision's b0-b4 and
// timm's PyTorch-trained models use 1e-5) get their running variances shifted by the difference
// when loaded, so that inference computes exactly what the original network computed.
const BatchNormEpsilon = bnEpsilon
