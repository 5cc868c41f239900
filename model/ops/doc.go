// Package ops holds the graph operations the EfficientNet needs, written so that they train on
// every GoMLX backend: XLA (PJRT) and the pure-Go SimpleGo, whose v0.26.0 lacks Reverse, Pad
// and BatchNormForTraining and convolves with a naive single-threaded loop.
//
// Layouts: activations are NHWC; dense kernels are HWIO [kh, kw, Cin, Cout]; depthwise kernels
// are [kh, kw, 1, C] (XLA's grouped-convolution HWIO with one input channel per group);
// pointwise kernels are [Cin, Cout].
//
// Importing the package also registers better VJPs (gradients) in graph.VJPRegistration for
// ops whose stock gradient is missing, wrong or slow on some backend.
package ops
