package ops

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
)

// rsqrtVJP: d/dx x^(-1/2) = -1/2 x^(-3/2) = -1/2 y^3 with y = Rsqrt(x), reusing the forward value.
func rsqrtVJP(node, v *Node) []*Node {
	y := node
	return []*Node{Mul(v, MulScalar(Mul(y, Square(y)), -0.5))}
}

// expm1VJP: d/dx (e^x - 1) = e^x = y + 1.
func expm1VJP(node, v *Node) []*Node {
	return []*Node{Mul(v, OnePlus(node))}
}

// clampVJP is the VJP of Clamp(min, x, max) (GoMLX's Clip, used by CategoricalCrossEntropy):
// the cotangent goes to x where min <= x <= max, and to min (max) where x is below (above) it,
// summed when min or max is a broadcast scalar.
func clampVJP(node, v *Node) []*Node {
	lo, x, hi := node.Inputs()[0], node.Inputs()[1], node.Inputs()[2]
	zeros := ZerosLike(v)
	below, above := LessThan(x, lo), GreaterThan(x, hi)
	gradX := Where(LogicalOr(below, above), zeros, v)
	bound := func(bound, mask *Node) *Node {
		g := Where(mask, v, zeros)
		if bound.IsScalar() && !v.IsScalar() {
			g = ReduceAllSum(g)
		}
		return g
	}
	return []*Node{bound(lo, below), gradX, bound(hi, above)}
}
