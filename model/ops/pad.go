package ops

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

// PadZeros pads x with zeros along one axis: `before` zeros first, `after` zeros last, and
// `interior` zeros between consecutive elements (XLA Pad's semantics for one axis).
//
// Why not graph.Pad: SimpleGo v0.26.0 has no Pad op. Concatenate and Reshape exist on every
// backend, and the op count here is constant (independent of sizes and channel counts).
//
// Unlike XLA's Pad it takes no negative (cropping) amounts: they panic with an error naming the
// arguments, as does an axis out of range (Exec returns the panic as an error).
func PadZeros(x *Node, axis, before, after, interior int) *Node {
	rank := x.Rank()
	if axis < -rank || axis >= rank {
		panic(errors.Errorf("ops.PadZeros: axis %d out of range for x %s", axis, x.Shape()))
	}
	if before < 0 || after < 0 || interior < 0 {
		panic(errors.Errorf("ops.PadZeros: before (%d), after (%d) and interior (%d) must be >= 0", before, after, interior))
	}
	if before == 0 && after == 0 && interior == 0 {
		return x
	}
	if axis < 0 {
		axis += rank
	}
	dims := x.Shape().Dimensions
	if interior > 0 && dims[axis] > 1 {
		// Interleave: [.., n, ..] -> [.., n, 1+interior, ..] (zeros after each element) -> [.., n*(1+interior), ..],
		// then drop the trailing `interior` zeros that follow the last element.
		n := dims[axis]
		expanded := InsertAxes(x, axis+1)
		zerosDims := append([]int(nil), expanded.Shape().Dimensions...)
		zerosDims[axis+1] = interior
		zeros := Zeros(x.Graph(), shapes.Make(x.DType(), zerosDims...))
		joined := Concatenate([]*Node{expanded, zeros}, axis+1)
		flatDims := append([]int(nil), dims...)
		flatDims[axis] = n * (1 + interior)
		x = Reshape(joined, flatDims...)
		x = SliceAxis(x, axis, AxisRange(0, n+(n-1)*interior))
		dims = x.Shape().Dimensions
	}
	parts := make([]*Node, 0, 3)
	zerosOf := func(size int) *Node {
		zd := append([]int(nil), dims...)
		zd[axis] = size
		return Zeros(x.Graph(), shapes.Make(x.DType(), zd...))
	}
	if before > 0 {
		parts = append(parts, zerosOf(before))
	}
	parts = append(parts, x)
	if after > 0 {
		parts = append(parts, zerosOf(after))
	}
	if len(parts) == 1 {
		return x
	}
	return Concatenate(parts, axis)
}
