package ops

import (
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/supcon-go/supcon/tpu"
)

// Benchmarks of the DotGeneral/Dot VJPs of vjp_dot.go against GoMLX's stock ones, forward +
// backward of a pointwise-convolution-sized product [8*32*32, 144] x [144, 24] (float32), on
// tpu.ForTests() (SimpleGo unless $SUPCON_BACKEND says otherwise).
//
// Run: go test ./model/ops/ -run '^$' -bench 'VJP' -benchtime 5x

// withStockVJP builds (inside build) graphs with GoMLX's own VJP for node type t, then restores
// this package's. It swaps the global registry: safe because no test or benchmark of this
// package calls t.Parallel (keep it so).
func withStockVJP(t NodeType, build func()) {
	ours := VJPRegistration[t]
	VJPRegistration[t] = stockVJP[t]
	defer func() { VJPRegistration[t] = ours }()
	build()
}

// benchGradExec times the forward + backward of loss = sum(op(a, b)^2) wrt a and b (squared, so
// the cotangent reaching op is not a constant), with GoMLX's stock VJP of node type stock if useStock.
func benchGradExec(b *testing.B, stock NodeType, useStock bool, op func(a, b *Node) *Node, aDims, bDims []int) {
	squared := func(x, y *Node) *Node { return Square(op(x, y)) }
	bench := func() { runOpBench(b, tpu.ForTests(), squared, aDims, bDims, true) }
	if useStock {
		withStockVJP(stock, bench) // The graph (and its gradient) is built on the first Exec, inside.
		return
	}
	bench()
}

func BenchmarkDotGeneralVJP(b *testing.B) {
	aDims, bDims := []int{8 * 32 * 32, 144}, []int{144, 24}
	dotGeneral := func(x, y *Node) *Node { return DotGeneral(x, []int{1}, nil, y, []int{0}, nil) }
	b.Run("DotGeneral/ours", func(b *testing.B) { benchGradExec(b, NodeTypeDotGeneral, false, dotGeneral, aDims, bDims) })
	b.Run("DotGeneral/stock", func(b *testing.B) { benchGradExec(b, NodeTypeDotGeneral, true, dotGeneral, aDims, bDims) })
	b.Run("Dot/ours", func(b *testing.B) { benchGradExec(b, NodeTypeDot, false, Dot, aDims, bDims) })
	b.Run("Dot/stock", func(b *testing.B) { benchGradExec(b, NodeTypeDot, true, Dot, aDims, bDims) })
}
