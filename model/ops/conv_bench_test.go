package ops

import (
	"fmt"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/supcon-go/supcon/tpu"
)

// Benchmarks at EfficientNet-B3-like sizes (batch 8, 64x64 maps), forward alone and forward +
// backward (loss = sum of the output, gradients wrt input and kernel), float32, on tpu.ForTests()
// (SimpleGo unless $SUPCON_BACKEND says otherwise). Forms:
//   - native: GoMLX's stock ConvGeneral (forward), with the conv_vjp.go gradient (the stock
//     gradient cannot run on SimpleGo: it needs Reverse);
//   - im2col / tapsum / stacked: the loop-free forms of conv.go and depthwise.go.
//
// Run: go test ./model/ops/ -run '^$' -bench 'Conv|Depthwise|Pointwise' -benchtime 3x

type benchSize struct {
	b, hw, cin, cout, k, stride int
}

func (s benchSize) String() string {
	return fmt.Sprintf("B%d_%dx%d_C%d-%d_k%d_s%d", s.b, s.hw, s.hw, s.cin, s.cout, s.k, s.stride)
}

// runOpBench times op at one size, forward only or forward + backward (loss = sum(op(x, k))).
func runOpBench(b *testing.B, backend backends.Backend, op func(x, k *Node) *Node, xDims, kDims []int, backward bool) {
	exec, err := NewExec(backend, func(x, k *Node) []*Node {
		loss := ReduceAllSum(op(x, k))
		if !backward {
			return []*Node{loss}
		}
		return append([]*Node{loss}, Gradient(loss, x, k)...)
	})
	if err != nil {
		b.Fatal(err)
	}
	defer exec.Finalize()
	x := tensors.FromShape(shapes.Make(dtypes.Float32, xDims...))
	k := tensors.FromShape(shapes.Make(dtypes.Float32, kDims...))
	run := func() {
		outs, err := exec.Exec(x, k)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range outs {
			o.FinalizeAll()
		}
	}
	run() // Compile outside the timing.
	b.ResetTimer()
	for range b.N {
		run()
	}
}

func benchForms(b *testing.B, forms []convForm, sizes []benchSize, depthwise bool) {
	backend := tpu.ForTests()
	for _, s := range sizes {
		xDims := []int{s.b, s.hw, s.hw, s.cin}
		kDims := []int{s.k, s.k, s.cin, s.cout}
		if depthwise {
			kDims = []int{s.k, s.k, 1, s.cin}
		}
		padH := [2]int{}
		padH[0], padH[1] = Pads(s.hw, s.k, s.stride, SamePadding)
		for _, mode := range []string{"fwd", "fwdbwd"} {
			for _, f := range forms {
				if f.name == "public" {
					continue // Same graph as one of the named forms.
				}
				if f.name == "native" && depthwise && mode == "fwdbwd" && s.cin > 32 {
					// On SimpleGo the native depthwise kernel gradient computes all C*C channel pairs
					// (its BatchGroupCount is broken): minutes per iteration at C=144, shown at C=32.
					continue
				}
				b.Run(fmt.Sprintf("%s/%s/%s", s, mode, f.name), func(b *testing.B) {
					runOpBench(b, backend, func(x, k *Node) *Node { return f.fn(x, k, s.stride, padH, padH) },
						xDims, kDims, mode == "fwdbwd")
				})
			}
		}
	}
}

func BenchmarkDepthwise(b *testing.B) {
	benchForms(b, depthwiseForms, []benchSize{
		{b: 8, hw: 64, cin: 32, cout: 32, k: 3, stride: 1},
		{b: 8, hw: 64, cin: 144, cout: 144, k: 3, stride: 2},
		{b: 8, hw: 64, cin: 144, cout: 144, k: 5, stride: 2},
	}, true)
}

func BenchmarkConv(b *testing.B) {
	benchForms(b, denseForms, []benchSize{
		{b: 8, hw: 128, cin: 3, cout: 40, k: 3, stride: 2}, // EfficientNet-B3 stem at 128x128.
		{b: 8, hw: 64, cin: 32, cout: 32, k: 3, stride: 1},
	}, false)
}

func BenchmarkPointwise(b *testing.B) {
	backend := tpu.ForTests()
	for _, s := range []benchSize{{b: 8, hw: 64, cin: 32, cout: 144}, {b: 8, hw: 32, cin: 144, cout: 24}} {
		xDims := []int{s.b, s.hw, s.hw, s.cin}
		name := fmt.Sprintf("B%d_%dx%d_C%d-%d", s.b, s.hw, s.hw, s.cin, s.cout)
		for _, mode := range []string{"fwd", "fwdbwd"} {
			b.Run(fmt.Sprintf("%s/%s/dotgeneral", name, mode), func(b *testing.B) {
				runOpBench(b, backend, Pointwise, xDims, []int{s.cin, s.cout}, mode == "fwdbwd")
			})
			b.Run(fmt.Sprintf("%s/%s/native1x1", name, mode), func(b *testing.B) {
				runOpBench(b, backend, func(x, k *Node) *Node {
					return convNative(x, Reshape(k, 1, 1, s.cin, s.cout), 1, [2]int{}, [2]int{}, 1)
				}, xDims, []int{s.cin, s.cout}, mode == "fwdbwd")
			})
		}
	}
}
