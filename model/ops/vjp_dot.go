package ops

import (
	"slices"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/pkg/errors"
)

// dotGeneralVJP computes both cotangents of a DotGeneral as DotGenerals.
//
// GoMLX v0.26.0's VJP broadcasts the cotangent against the other operand to the full
// [batch, lhsFree, rhsFree, contracted] product and reduce-sums it: memory and time grow with the
// product of all dimensions, which on SimpleGo makes a dense layer's backward pass orders of
// magnitude slower than its forward pass. The DotGeneral form is what XLA/JAX do and uses the
// backend's matrix-multiply kernels.
func dotGeneralVJP(node, v *Node) []*Node {
	p, err := nodeIntsParams(node, "lhsContractingAxes", "lhsBatchAxes", "rhsContractingAxes", "rhsBatchAxes")
	if err != nil {
		panic(errors.WithMessage(err, "ops: DotGeneral gradient needs the contraction parameters"))
	}
	lhs, rhs := node.Inputs()[0], node.Inputs()[1]
	gl, gr := dotGeneralGrads(lhs, rhs, v, p[0], p[1], p[2], p[3])
	return []*Node{gl, gr}
}

// dotVJP is the VJP of Dot (vector·vector, matrix·vector, matrix·matrix; used by MatMul and
// layers.Dense on 2-D inputs), whose stock VJP has the same broadcast problem as DotGeneral's.
func dotVJP(node, v *Node) []*Node {
	lhs, rhs := node.Inputs()[0], node.Inputs()[1]
	gl, gr := dotGeneralGrads(lhs, rhs, v, []int{lhs.Rank() - 1}, nil, []int{0}, nil)
	return []*Node{gl, gr}
}

// dotGeneralGrads returns the cotangents of lhs and rhs for out = DotGeneral(lhs, lc, lb, rhs, rc, rb)
// given the output cotangent v, laid out like the output: [batch..., lhsFree..., rhsFree...], where
// the free ("cross") axes are each operand's axes that are neither batch nor contracting, in
// increasing order.
//
//	dL/dlhs[b, lf, c] = Σ_rf v[b, lf, rf] · rhs[b, c, rf]   (contract v's rhsFree with rhs's free axes)
//	dL/drhs[b, c, rf] = Σ_lf lhs[b, lf, c] · v[b, lf, rf]   (contract lhs's free axes with v's lhsFree)
//
// Each DotGeneral's result is [batch, free of its first operand, free of its second operand] with
// free axes in increasing order, so a final transpose puts every axis back where the operand had it.
func dotGeneralGrads(lhs, rhs, v *Node, lc, lb, rc, rb []int) (gradLhs, gradRhs *Node) {
	lhsFree := freeAxes(lhs.Rank(), lc, lb)
	rhsFree := freeAxes(rhs.Rank(), rc, rb)
	nb, nl := len(lb), len(lhsFree)
	vBatch := axisRun(0, nb)
	vLhsFree := axisRun(nb, nl)
	vRhsFree := axisRun(nb+nl, len(rhsFree))

	// d/dlhs: result axes [batch | v's lhsFree | rhs's contracting axes in increasing order].
	gl := DotGeneral(v, vRhsFree, vBatch, rhs, rhsFree, rb)
	lhsAxisOf := make([]int, 0, lhs.Rank()) // result axis -> lhs axis.
	lhsAxisOf = append(lhsAxisOf, lb...)
	lhsAxisOf = append(lhsAxisOf, lhsFree...)
	for _, a := range sortedCopy(rc) {
		lhsAxisOf = append(lhsAxisOf, lc[slices.Index(rc, a)])
	}
	gradLhs = transposeTo(gl, lhsAxisOf)

	// d/drhs: result axes [batch | lhs's contracting axes in increasing order | v's rhsFree].
	gr := DotGeneral(lhs, lhsFree, lb, v, vLhsFree, vBatch)
	rhsAxisOf := make([]int, 0, rhs.Rank())
	rhsAxisOf = append(rhsAxisOf, rb...)
	for _, a := range sortedCopy(lc) {
		rhsAxisOf = append(rhsAxisOf, rc[slices.Index(lc, a)])
	}
	rhsAxisOf = append(rhsAxisOf, rhsFree...)
	gradRhs = transposeTo(gr, rhsAxisOf)
	return gradLhs, gradRhs
}

// transposeTo returns x transposed so that x's axis r lands on axis operandAxisOf[r].
func transposeTo(x *Node, operandAxisOf []int) *Node {
	perm := make([]int, len(operandAxisOf))
	identity := true
	for r, a := range operandAxisOf {
		perm[a] = r
		identity = identity && r == a
	}
	if identity {
		return x
	}
	return TransposeAllAxes(x, perm...)
}

// freeAxes lists, in increasing order, the axes of a rank-`rank` operand that are neither
// contracting nor batch axes.
func freeAxes(rank int, contracting, batch []int) []int {
	out := make([]int, 0, rank)
	for a := range rank {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

func axisRun(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}

func sortedCopy(xs []int) []int {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}
