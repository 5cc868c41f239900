package ops

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/pkg/errors"
)

// Pointwise is a 1x1 convolution written as a matrix product: x [..., Cin], kernel [Cin, Cout]
// -> [..., Cout].
//
// Why not Conv with a 1x1 kernel: one DotGeneral is the fastest form on every backend (SimpleGo
// runs it in parallel, its ConvGeneral is single-threaded), and its gradient is two matrix
// products (with the DotGeneral VJP of vjp_dot.go) instead of convolutions.
func Pointwise(x, kernel *Node) *Node {
	if x.Rank() < 1 || kernel.Rank() != 2 {
		panic(errors.Errorf("ops.Pointwise: want x [..., Cin] and kernel [Cin, Cout], got x %s and kernel %s",
			x.Shape(), kernel.Shape()))
	}
	if x.DType() != kernel.DType() {
		panic(errors.Errorf("ops.Pointwise: x is %s but kernel is %s; they must have the same dtype", x.DType(), kernel.DType()))
	}
	if cin := x.Shape().Dimensions[x.Rank()-1]; cin != kernel.Shape().Dimensions[0] {
		panic(errors.Errorf("ops.Pointwise: x %s has %d channels but kernel %s has %d input channels",
			x.Shape(), cin, kernel.Shape(), kernel.Shape().Dimensions[0]))
	}
	return DotGeneral(x, []int{x.Rank() - 1}, nil, kernel, []int{0}, nil)
}
