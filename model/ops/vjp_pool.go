package ops

import (
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/support/xslices"
	"github.com/pkg/errors"
)

// reduceWindowVJP is the gradient of ReduceWindow (GoMLX's MaxPool, MinPool, SumPool, MeanPool).
//
// GoMLX's own VJP needs Pad (sum) or SelectAndScatter (max, min), both missing in SimpleGo
// v0.26.0, so every pooling layer's gradient fails there. On such backends this one routes the
// cotangent explicitly, one window tap at a time: output element i of a tap t read the padded
// input at i*stride + t*dilation, so the tap's share of the cotangent goes back there (PadZeros
// with interior stride-1). For max/min only the window's first extreme element receives it,
// as XLA's SelectAndScatter does. Backends with the needed ops keep the stock VJP.
func reduceWindowVJP(node, v *Node) []*Node {
	stock := func() []*Node { return stockVJP[NodeTypeReduceWindow](node, []*Node{v}, shapes.Shape{}) }
	kind, err := nodeIntParam(node, "reductionType")
	if err != nil {
		panic(errors.WithMessage(err, "ops: ReduceWindow gradient needs the reduction type"))
	}
	var needs backends.OpType
	switch ReduceOpType(kind) {
	case backends.ReduceOpSum:
		needs = backends.OpTypePad
	case backends.ReduceOpMax:
		needs = backends.OpTypeSelectAndScatterMax
	case backends.ReduceOpMin:
		needs = backends.OpTypeSelectAndScatterMin
	default:
		return stock() // Fails with GoMLX's message for reductions without a gradient.
	}
	if backendHas(node, needs) {
		return stock()
	}
	w, err := readWindow(node)
	if err != nil {
		panic(errors.WithMessage(err, "ops: ReduceWindow gradient needs the window parameters"))
	}
	if w.baseDilated {
		return stock() // Not produced by GoMLX's pooling; the stock VJP rejects it with its own message.
	}
	x := node.Inputs()[0]
	rank := x.Rank()

	var padded *Node // x padded like the reduction saw it; only max/min need it.
	if ReduceOpType(kind) != backends.ReduceOpSum {
		sign := -1
		if ReduceOpType(kind) == backends.ReduceOpMin {
			sign = 1
		}
		inside := OnesLike(x)
		padded = x
		for axis := range rank {
			padded = PadZeros(padded, axis, w.paddings[axis][0], w.paddings[axis][1], 0)
			inside = PadZeros(inside, axis, w.paddings[axis][0], w.paddings[axis][1], 0)
		}
		padded = Where(GreaterThan(inside, ZerosLike(inside)), padded, BroadcastToShape(Infinity(x.Graph(), x.DType(), sign), padded.Shape()))
	}

	var grad, taken *Node
	for _, tap := range w.taps() {
		share := v
		if padded != nil {
			specs := make([]SliceAxisSpec, rank)
			for axis := range rank {
				start := tap[axis] * w.dilations[axis]
				specs[axis] = AxisRange(start, start+(v.Shape().Dimensions[axis]-1)*w.strides[axis]+1).Stride(w.strides[axis])
			}
			hit := Equal(Slice(padded, specs...), node)
			if taken == nil {
				taken = hit
			} else {
				hit = LogicalAnd(hit, LogicalNot(taken))
				taken = LogicalOr(taken, hit)
			}
			share = Where(hit, v, ZerosLike(v))
		}
		for axis, dim := range x.Shape().Dimensions {
			before := tap[axis] * w.dilations[axis]
			n := v.Shape().Dimensions[axis]
			after := dim + w.paddings[axis][0] + w.paddings[axis][1] - before - (n-1)*w.strides[axis] - 1
			share = PadZeros(share, axis, before, after, w.strides[axis]-1)
		}
		if grad == nil {
			grad = share
		} else {
			grad = Add(grad, share)
		}
	}
	// Drop the positions that were padding.
	for axis, dim := range x.Shape().Dimensions {
		if lo, hi := w.paddings[axis][0], w.paddings[axis][1]; lo != 0 || hi != 0 {
			grad = SliceAxis(grad, axis, AxisRange(lo, lo+dim))
		}
	}
	return []*Node{grad}
}

// window is a ReduceWindow node's geometry with GoMLX's defaults filled in (strides = window,
// dilations 1, no padding).
type window struct {
	dims, strides, dilations []int
	paddings                 [][2]int
	baseDilated              bool
}

func readWindow(node *Node) (window, error) {
	p, err := nodeIntsParams(node, "windowDimensions", "strides", "baseDilations", "windowDilations")
	if err != nil {
		return window{}, err
	}
	paddings, err := nodePairsParam(node, "paddings")
	if err != nil {
		return window{}, err
	}
	rank := node.Inputs()[0].Rank()
	w := window{dims: p[0], strides: p[1], dilations: p[3], paddings: paddings}
	if len(w.dims) == 0 {
		w.dims = xslices.SliceWithValue(rank, 1)
	}
	if len(w.strides) == 0 {
		w.strides = w.dims
	}
	if len(w.dilations) == 0 {
		w.dilations = xslices.SliceWithValue(rank, 1)
	}
	if len(w.paddings) == 0 {
		w.paddings = make([][2]int, rank)
	}
	for _, d := range p[2] {
		w.baseDilated = w.baseDilated || d != 1
	}
	return w, nil
}

// taps lists every position inside the window, in row-major order (the order in which XLA's
// SelectAndScatter scans a window, so "first extreme" matches it).
func (w window) taps() [][]int {
	taps := [][]int{make([]int, len(w.dims))}
	for axis, size := range w.dims {
		next := make([][]int, 0, len(taps)*size)
		for _, t := range taps {
			for i := range size {
				nt := append([]int(nil), t...)
				nt[axis] = i
				next = append(next, nt)
			}
		}
		taps = next
	}
	return taps
}
