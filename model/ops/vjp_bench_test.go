package ops

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
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

// benchGradExec times the forward + backward of loss = sum(op(a, b)^2) wrt a and b.
func benchGradExec(b *testing.B, stock NodeType, useStock bool, op func(a, b *Node) *Node, aDims, bDims []int) {
	exec, err := NewExec(tpu.ForTests(), func(x, y *Node) []*Node {
		loss := ReduceAllSum(Square(op(x, y)))
		return append([]*Node{loss}, Gradient(loss, x, y)...)
	})
	if err != nil {
		b.Fatal(err)
	}
	defer exec.Finalize()
	x := tensors.FromShape(shapes.Make(dtypes.Float32, aDims...))
	y := tensors.FromShape(shapes.Make(dtypes.Float32, bDims...))
	run := func() {
		outs, err := exec.Exec(x, y)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range outs {
			o.FinalizeAll()
		}
	}
	if useStock {
		withStockVJP(stock, run) // The graph (and its gradient) is built on the first Exec.
	} else {
		run()
	}
	b.ResetTimer()
	for range b.N {
		run()
	}
}

func BenchmarkDotGeneralVJP(b *testing.B) {
	aDims, bDims := []int{8 * 32 * 32, 144}, []int{144, 24}
	dotGeneral := func(x, y *Node) *Node { return DotGeneral(x, []int{1}, nil, y, []int{0}, nil) }
	b.Run("DotGeneral/ours", func(b *testing.B) { benchGradExec(b, NodeTypeDotGeneral, false, dotGeneral, aDims, bDims) })
	b.Run("DotGeneral/stock", func(b *testing.B) { benchGradExec(b, NodeTypeDotGeneral, true, dotGeneral, aDims, bDims) })
	b.Run("Dot/ours", func(b *testing.B) { benchGradExec(b, NodeTypeDot, false, Dot, aDims, bDims) })
	b.Run("Dot/stock", func(b *testing.B) { benchGradExec(b, NodeTypeDot, true, Dot, aDims, bDims) })
}
