package ops

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/pkg/errors"
)

// Depthwise is a depthwise 2D convolution: x [B,H,W,C] (NHWC), kernel [kh,kw,1,C], output
// [B,Ho,Wo,C]; each channel is convolved with its own kh x kw filter.
func Depthwise(x, kernel *Node, stride int, padding Padding) *Node {
	checkConvInputs("Depthwise", x, kernel, stride)
	padH, padW := padsFor(x, kernel, stride, padding)
	return DepthwiseWithPads(x, kernel, stride, padH, padW)
}

// DepthwiseWithPads is Depthwise with explicit (before, after) zero padding of the H and W axes.
//
// Form: native grouped ConvGeneral (one group per channel, gradient from conv_vjp.go) on
// backends other than SimpleGo; on SimpleGo the tap-sum: sum over the kh*kw strided windows of
// the padded input times the kernel tap broadcast over B,H,W -- elementwise ops (SimpleGo runs
// independent taps concurrently), whose gradients are slices, Mul and ReduceSum.
// BenchmarkDepthwise (SimpleGo, 2 cores, fwd+bwd, 8x64x64): C=144 k5 s2 tap-sum 0.30 s, stacked
// 0.47 s; C=32 k3 s1 tap-sum 0.09 s, stacked 0.16 s, ConvGeneral (with the conv_vjp.go gradient) 3 s. (Expanding each kernel tap
// to full size with a DotGeneral, to avoid SimpleGo's slow broadcasting Mul, measured 1.8x slower.)
func DepthwiseWithPads(x, kernel *Node, stride int, padH, padW [2]int) *Node {
	checkConvInputs("DepthwiseWithPads", x, kernel, stride)
	c := x.Shape().Dimensions[3]
	if kd := kernel.Shape().Dimensions; kd[2] != 1 || kd[3] != c {
		panic(errors.Errorf("ops.Depthwise: kernel must be [kh,kw,1,C] with C=%d (the channels of x %s), got %s",
			c, x.Shape(), kernel.Shape()))
	}
	checkPads("Depthwise", x, kernel, padH, padW)
	if usesLoopFreeForms(x.Graph().Backend()) {
		return depthwiseTapSum(x, kernel, stride, padH, padW)
	}
	return convNative(x, kernel, stride, padH, padW, c)
}

// depthwiseTapSum: sum_t tap_t * kernel[i,j] with the [1,1,1,C] kernel slice broadcast.
func depthwiseTapSum(x, kernel *Node, stride int, padH, padW [2]int) *Node {
	kw := kernel.Shape().Dimensions[1]
	return sumTaps(tapSlices(x, kernel.Shape().Dimensions[0], kw, stride, padH, padW), kernel)
}

// depthwiseTapSumDirect is depthwiseTapSum with strided slices of the padded input instead of
// polyphase components; kept for BenchmarkDepthwise, which compares the two.
func depthwiseTapSumDirect(x, kernel *Node, stride int, padH, padW [2]int) *Node {
	kd := kernel.Shape().Dimensions
	return sumTaps(tapSlicesForm(x, kd[0], kd[1], stride, padH, padW, false), kernel)
}

// sumTaps returns sum_t taps[t] * kernel[i,j] ([1,1,1,C], broadcast), t = i*kw + j.
func sumTaps(taps []*Node, kernel *Node) *Node {
	kw := kernel.Shape().Dimensions[1]
	var sum *Node
	for t, tap := range taps {
		i, j := t/kw, t%kw
		term := Mul(tap, Slice(kernel, AxisRange(i, i+1), AxisRange(j, j+1)))
		if sum == nil {
			sum = term
		} else {
			sum = Add(sum, term)
		}
	}
	return sum
}

// depthwiseStacked: the taps stacked on a new axis [B,Ho,Wo,T,C], one Mul with the kernel
// [1,1,1,T,C] and one ReduceSum. Kept for BenchmarkDepthwise, which compares it with the tap-sum.
func depthwiseStacked(x, kernel *Node, stride int, padH, padW [2]int) *Node {
	kd := kernel.Shape().Dimensions
	taps := tapSlices(x, kd[0], kd[1], stride, padH, padW)
	stacked := Stack(taps, 3)
	k := Reshape(kernel, 1, 1, 1, kd[0]*kd[1], kd[3])
	return ReduceSum(Mul(stacked, k), 3)
}
