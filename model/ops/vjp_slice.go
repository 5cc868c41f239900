package ops

import (
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

// sliceVJP scatters the cotangent of a (possibly strided) Slice back into a zero tensor of the
// operand's shape.
//
// GoMLX's own VJP does this with one Pad op, which SimpleGo v0.26.0 lacks; there we build the same
// tensor with PadZeros (Concatenate based: one concatenation per sliced axis, plus an
// interleave for strided axes). Backends with Pad keep the stock VJP, a single fused op.
func sliceVJP(node, v *Node) []*Node {
	if backendHas(node, backends.OpTypePad) {
		return stockVJP[NodeTypeSlice](node, []*Node{v}, shapes.Shape{})
	}
	p, err := nodeIntsParams(node, "starts", "limits", "strides")
	if err != nil {
		panic(errors.WithMessage(err, "ops: Slice gradient needs the slice parameters"))
	}
	starts, strides := p[0], p[2]
	x := node.Inputs()[0]
	if v.Shape().Size() == 0 {
		return []*Node{ZerosLike(x)}
	}
	for axis, dim := range x.Shape().Dimensions {
		stride := max(strides[axis], 1)
		n := v.Shape().Dimensions[axis]
		used := (n-1)*stride + 1 // Span of x covered from the start to the last element taken.
		after := dim - starts[axis] - used
		v = PadZeros(v, axis, starts[axis], after, stride-1)
	}
	return []*Node{v}
}
