package tpu

import (
	"testing"

	"github.com/gomlx/gomlx/backends/simplego"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// BenchmarkSimpleGoConfig compares SimpleGo pool configurations on a small training-like step: two
// independent conv branches and a dense head, forward and the head's gradient (SimpleGo v0.26.0 cannot
// differentiate Convolve: no Reverse op; model/ops has our conv VJP). "default" is GoMLX's parallelism=NumCPU
// (safe here: the graph never has more than two DotGenerals ready at once).
//
//	go test ./tpu -run XXX -bench SimpleGoConfig
func BenchmarkSimpleGoConfig(b *testing.B) {
	for _, cfg := range []struct{ name, config string }{
		{"unlimited", SimpleGoParallelism},
		{"default", ""},
		{"ops_sequential", "ops_sequential"},
		{"none", "parallelism=0"},
	} {
		// Created before b.Run: simplego.New prints a line about parallelism that would split the result line.
		backend, err := simplego.New(cfg.config)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(cfg.name, func(b *testing.B) {
			exec, err := NewExec(backend, func(x, k1, k2, w *Node) []*Node {
				h := Add(Sigmoid(Convolve(x, k1).Strides(1).NoPadding().Done()), Tanh(Convolve(x, k2).Strides(1).NoPadding().Done()))
				logits := Einsum("bf,fc->bc", Reshape(h, h.Shape().Dimensions[0], -1), w)
				loss := ReduceAllSum(Square(logits))
				return append([]*Node{loss}, Gradient(loss, w)...)
			})
			if err != nil {
				b.Fatal(err)
			}
			const batch, size, ch = 8, 32, 16
			fill := func(seed int, dims ...int) *tensors.Tensor {
				n := 1
				for _, d := range dims {
					n *= d
				}
				v := make([]float32, n)
				for i := range v {
					v[i] = float32((i*7+seed)%13-6) / 64
				}
				return tensors.FromFlatDataAndDimensions(v, dims...)
			}
			args := []any{fill(1, batch, size, size, ch), fill(2, 3, 3, ch, ch), fill(3, 3, 3, ch, ch),
				fill(4, (size-2)*(size-2)*ch, 10)}
			if _, err := exec.Exec(args...); err != nil { // Compile outside the timing.
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := exec.Exec(args...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
