package ops

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/pkg/errors"
)

// Padding selects how Conv and Depthwise pad the spatial axes.
type Padding int

const (
	// SamePadding is TensorFlow's "SAME": total = max((ceil(in/s)-1)*s + k - in, 0), with
	// before = total/2 and the extra pixel (odd total) on the bottom/right. Keras and timm's
	// tf_ EfficientNet weights were trained with it.
	SamePadding Padding = iota
	// SymmetricPadding is PyTorch's (k-1)/2 on each side (torchvision and timm's non-tf_ weights).
	SymmetricPadding
)

// String names the padding for error messages.
func (p Padding) String() string {
	switch p {
	case SamePadding:
		return "SamePadding"
	case SymmetricPadding:
		return "SymmetricPadding"
	}
	return fmt.Sprintf("Padding(%d)", int(p))
}

// Pads returns the zero padding before and after one spatial axis of size inSize convolved
// with a kernel of kernelSize taps at the given stride.
//
// It panics (with an error) on sizes < 1 or an unknown Padding; inside graph building GoMLX
// turns that panic into the error returned by Exec.
func Pads(inSize, kernelSize, stride int, p Padding) (before, after int) {
	if inSize < 1 || kernelSize < 1 || stride < 1 {
		panic(errors.Errorf("ops.Pads: input size (%d), kernel size (%d) and stride (%d) must all be >= 1",
			inSize, kernelSize, stride))
	}
	switch p {
	case SamePadding:
		outSize := (inSize + stride - 1) / stride
		total := max((outSize-1)*stride+kernelSize-inSize, 0)
		return total / 2, total - total/2
	case SymmetricPadding:
		return (kernelSize - 1) / 2, (kernelSize - 1) / 2
	}
	panic(errors.Errorf("ops.Pads: unknown padding %s", p))
}

// Conv is a dense 2D convolution: x [B,H,W,Cin] (NHWC), kernel [kh,kw,Cin,Cout] (HWIO),
// output [B,Ho,Wo,Cout], with the same stride on both spatial axes.
func Conv(x, kernel *Node, stride int, padding Padding) *Node {
	checkConvInputs("Conv", x, kernel, stride)
	padH, padW := padsFor(x, kernel, stride, padding)
	return ConvWithPads(x, kernel, stride, padH, padW)
}

// ConvWithPads is Conv with explicit (before, after) zero padding of the H and W axes.
//
// Form: native ConvGeneral (with the VJP of conv_vjp.go) on backends other than SimpleGo;
// on SimpleGo, whose ConvGeneral is a naive single-threaded loop, im2col: the kh*kw shifted
// strided slices of the padded input concatenated on the channel axis and one (parallel)
// DotGeneral. BenchmarkConv (SimpleGo, 2 cores, fwd+bwd): EfficientNet stem 8x128x128x3 -> 40
// k3 s2: im2col 74 ms, tap-sum 404 ms, ConvGeneral 840 ms; 8x64x64x32 -> 32 k3 s1: im2col 440 ms,
// tap-sum 420 ms, ConvGeneral 3.2 s. The stem is the only dense k>1 convolution of EfficientNet.
func ConvWithPads(x, kernel *Node, stride int, padH, padW [2]int) *Node {
	checkConvInputs("ConvWithPads", x, kernel, stride)
	if kernel.Shape().Dimensions[2] != x.Shape().Dimensions[3] {
		panic(errors.Errorf("ops.Conv: kernel %s has %d input channels, but x %s has %d channels (want kernel [kh,kw,Cin,Cout])",
			kernel.Shape(), kernel.Shape().Dimensions[2], x.Shape(), x.Shape().Dimensions[3]))
	}
	checkPads("Conv", x, kernel, padH, padW)
	if usesLoopFreeForms(x.Graph().Backend()) {
		return convIm2col(x, kernel, stride, padH, padW)
	}
	return convNative(x, kernel, stride, padH, padW, 1)
}

// usesLoopFreeForms reports whether convolutions should be built from Slice/Concatenate/Mul/
// DotGeneral instead of ConvGeneral: true on SimpleGo, whose ConvGeneral is slow, lacks the ops
// of its stock gradient (Reverse) and computes BatchGroupCount convolutions wrongly.
func usesLoopFreeForms(b backends.Backend) bool {
	return b.String() == simplego.BackendName
}

// nhwcAxes is the NHWC / HWIO layout of ConvGeneral used by every op here.
var nhwcAxes = backends.ConvolveAxesConfig{
	InputBatch: 0, InputSpatial: []int{1, 2}, InputChannels: 3,
	KernelSpatial: []int{0, 1}, KernelInputChannels: 2, KernelOutputChannels: 3,
	OutputBatch: 0, OutputSpatial: []int{1, 2}, OutputChannels: 3,
}

// convNative is ConvGeneral with every optional parameter explicit: SimpleGo crashes (in a
// worker goroutine, unrecoverably) on grouped convolutions without kernel dilations, and
// graph.Convolve fails shape inference without strides.
func convNative(x, kernel *Node, stride int, padH, padW [2]int, groups int) *Node {
	return ConvGeneral(x, kernel, nhwcAxes, []int{stride, stride}, [][2]int{padH, padW},
		nil, []int{1, 1}, groups, 1)
}

// convIm2col: one DotGeneral of the concatenated taps [B,Ho,Wo,kh*kw*Cin] with the kernel
// reshaped to [kh*kw*Cin, Cout] (HWIO is row-major in (kh, kw, Cin), the order of the taps).
func convIm2col(x, kernel *Node, stride int, padH, padW [2]int) *Node {
	dims := kernel.Shape().Dimensions
	taps := tapSlices(x, dims[0], dims[1], stride, padH, padW)
	var cols *Node
	if len(taps) == 1 {
		cols = taps[0]
	} else {
		cols = Concatenate(taps, 3)
	}
	flatKernel := Reshape(kernel, dims[0]*dims[1]*dims[2], dims[3])
	return DotGeneral(cols, []int{3}, nil, flatKernel, []int{0}, nil)
}

// convTapSum: the sum over taps of DotGeneral(tap [B,Ho,Wo,Cin], kernel[i,j] [Cin,Cout]).
// Kept for BenchmarkConv, which compares it with convIm2col.
func convTapSum(x, kernel *Node, stride int, padH, padW [2]int) *Node {
	dims := kernel.Shape().Dimensions
	taps := tapSlices(x, dims[0], dims[1], stride, padH, padW)
	var sum *Node
	for t, tap := range taps {
		i, j := t/dims[1], t%dims[1]
		k := Reshape(Slice(kernel, AxisRange(i, i+1), AxisRange(j, j+1)), dims[2], dims[3])
		term := DotGeneral(tap, []int{3}, nil, k, []int{0}, nil)
		if sum == nil {
			sum = term
		} else {
			sum = Add(sum, term)
		}
	}
	return sum
}

// tapSlices zero-pads x [B,H,W,C] and returns the kh*kw strided windows [B,Ho,Wo,C], tap
// (i, j) at index i*kw+j: tap(i,j)[b,h,w,c] = xPadded[b, h*stride+i, w*stride+j, c].
// The op count is O(kh*kw), independent of the sizes and channel count.
//
// For strides > 1 the windows are cut from the stride*stride polyphase components of the
// padded input (xPadded[:, a::s, b::s, :]) as unstrided slices: the same values, but each tap's
// gradient (a Slice VJP: zero padding plus an add) is then a phase-sized tensor, 1/s^2 of the
// input, instead of a full-sized one with interior padding. BenchmarkDepthwise ("direct" is the
// plain strided form), 8x64x64x144 k5 s2 fwd+bwd on SimpleGo: ~0.3-0.8 s polyphase vs 1.4-1.6 s.
func tapSlices(x *Node, kh, kw, stride int, padH, padW [2]int) []*Node {
	return tapSlicesForm(x, kh, kw, stride, padH, padW, stride > 1 && kh*kw > stride*stride)
}

func tapSlicesForm(x *Node, kh, kw, stride int, padH, padW [2]int, polyphase bool) []*Node {
	xp := PadZeros(PadZeros(x, 1, padH[0], padH[1], 0), 2, padW[0], padW[1], 0)
	hp, wp := xp.Shape().Dimensions[1], xp.Shape().Dimensions[2]
	ho, wo := (hp-kh)/stride+1, (wp-kw)/stride+1
	taps := make([]*Node, 0, kh*kw)
	if polyphase {
		phases := make(map[[2]int]*Node)
		for i := range kh {
			for j := range kw {
				key := [2]int{i % stride, j % stride}
				phase, ok := phases[key]
				if !ok {
					phase = Slice(xp, AxisRange(), AxisRange(key[0]).Stride(stride), AxisRange(key[1]).Stride(stride), AxisRange())
					phases[key] = phase
				}
				r, c := i/stride, j/stride
				taps = append(taps, Slice(phase, AxisRange(), AxisRange(r, r+ho), AxisRange(c, c+wo), AxisRange()))
			}
		}
		return taps
	}
	for i := range kh {
		for j := range kw {
			if kh == 1 && kw == 1 && stride == 1 && ho == hp && wo == wp {
				taps = append(taps, xp) // 1x1 unstrided: the window is the whole input.
				continue
			}
			taps = append(taps, Slice(xp, AxisRange(),
				AxisRange(i, i+(ho-1)*stride+1).Stride(stride),
				AxisRange(j, j+(wo-1)*stride+1).Stride(stride),
				AxisRange()))
		}
	}
	return taps
}

// padsFor resolves a Padding for both spatial axes of x and kernel.
func padsFor(x, kernel *Node, stride int, padding Padding) (padH, padW [2]int) {
	xd, kd := x.Shape().Dimensions, kernel.Shape().Dimensions
	padH[0], padH[1] = Pads(xd[1], kd[0], stride, padding)
	padW[0], padW[1] = Pads(xd[2], kd[1], stride, padding)
	return
}

// checkConvInputs validates ranks, dtypes and stride (panicking with an error that names the
// op and the offending shape; GoMLX's Exec returns it as an error).
func checkConvInputs(op string, x, kernel *Node, stride int) {
	if x.Rank() != 4 {
		panic(errors.Errorf("ops.%s: x must be [B,H,W,C] (rank 4), got %s", op, x.Shape()))
	}
	if kernel.Rank() != 4 {
		panic(errors.Errorf("ops.%s: kernel must be rank 4 [kh,kw,Cin,Cout] (depthwise: [kh,kw,1,C]), got %s", op, kernel.Shape()))
	}
	if x.DType() != kernel.DType() {
		panic(errors.Errorf("ops.%s: x is %s but kernel is %s; they must have the same dtype", op, x.DType(), kernel.DType()))
	}
	if stride < 1 {
		panic(errors.Errorf("ops.%s: stride must be >= 1, got %d", op, stride))
	}
}

// checkPads rejects negative pads and windows larger than the padded input.
func checkPads(op string, x, kernel *Node, padH, padW [2]int) {
	if padH[0] < 0 || padH[1] < 0 || padW[0] < 0 || padW[1] < 0 {
		panic(errors.Errorf("ops.%s: pads must be >= 0, got padH=%v padW=%v", op, padH, padW))
	}
	xd, kd := x.Shape().Dimensions, kernel.Shape().Dimensions
	if xd[1]+padH[0]+padH[1] < kd[0] || xd[2]+padW[0]+padW[1] < kd[1] {
		panic(errors.Errorf("ops.%s: kernel %dx%d is larger than the padded input %dx%d (x %s, padH=%v, padW=%v)",
			op, kd[0], kd[1], xd[1]+padH[0]+padH[1], xd[2]+padW[0]+padW[1], x.Shape(), padH, padW))
	}
}
