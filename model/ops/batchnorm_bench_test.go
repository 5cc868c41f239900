package ops

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers/batchnorm"
	"github.com/supcon-go/supcon/tpu"
)

// BenchmarkBatchNorm times one training step's worth of batch norm, forward + backward (loss =
// sum(y^2), gradients wrt x, scale and offset, moving averages updated), on an EfficientNet-B3
// sized activation [8, 32, 32, 144] float32, on tpu.ForTests() (SimpleGo by default):
//   - ours: BatchNorm of this package;
//   - gomlx-layers: GoMLX's layers/batchnorm with UseBackendInference(false) (the only form that
//     runs on SimpleGo), for scale: its gradient skips the statistics, so it is cheaper and wrong.
//
// Run: go test ./model/ops/ -run '^$' -bench 'BatchNorm' -benchtime 5x
func BenchmarkBatchNorm(b *testing.B) {
	forms := map[string]func(ctx *context.Context, x *Node) *Node{
		"ours": func(ctx *context.Context, x *Node) *Node { return BatchNorm(ctx, x, EfficientNetBatchNorm) },
		"gomlx-layers": func(ctx *context.Context, x *Node) *Node {
			return batchnorm.New(ctx, x, -1).CurrentScope().UseBackendInference(false).Done()
		},
	}
	for _, name := range []string{"ours", "gomlx-layers"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.New()
			exec, err := context.NewExec(tpu.ForTests(), ctx, func(ctx *context.Context, x *Node) []*Node {
				g := x.Graph()
				ctx.SetTraining(g, true)
				loss := ReduceAllSum(Square(forms[name](ctx, x)))
				scale := ctx.GetVariableByScopeAndName(ctx.Scope(), "scale").ValueGraph(g)
				offset := ctx.GetVariableByScopeAndName(ctx.Scope(), "offset").ValueGraph(g)
				return append([]*Node{loss}, Gradient(loss, x, scale, offset)...)
			})
			if err != nil {
				b.Fatal(err)
			}
			defer exec.Finalize()
			x := tensors.FromShape(shapes.Make(dtypes.Float32, 8, 32, 32, 144))
			run := func() {
				outs, err := exec.Exec(x)
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range outs {
					o.FinalizeAll()
				}
			}
			run()
			b.ResetTimer()
			for range b.N {
				run()
			}
		})
	}
}
