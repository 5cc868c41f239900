package ops

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/supcon-go/supcon/model/gradcheck"
	"github.com/supcon-go/supcon/tpu"
)

// TestConvGradients compares the gradients wrt input and kernel with finite differences, over
// the whole forward grid, for dense and depthwise convolutions.
func TestConvGradients(t *testing.T) {
	backend := tpu.ForTests()
	const batch, cin, cout = 2, 3, 2
	for _, depthwise := range []bool{false, true} {
		forms := formsFor(depthwise)
		for _, c := range convGrid() {
			padH, padW := c.pads()
			xT := gradcheck.RandomTensor(7, batch, c.h, c.w, cin)
			kT := gradcheck.RandomTensor(8, kernelDims(c, cin, cout, depthwise)...)
			for _, form := range forms[1:] { // forms[0] (public) builds one of the others.
				_, err := gradcheck.Check(backend, func(in []*Node) *Node {
					return form.fn(in[0], in[1], c.stride, padH, padW)
				}, []*tensors.Tensor{xT, kT}, gradcheck.Options{MaxProbes: 12, Seed: 9})
				if err != nil {
					t.Errorf("depthwise=%v %s %s: %v", depthwise, c, form.name, err)
				}
			}
		}
	}
}

func TestPointwiseGradient(t *testing.T) {
	backend := tpu.ForTests()
	xT := gradcheck.RandomTensor(10, 2, 3, 4, 5)
	kT := gradcheck.RandomTensor(11, 5, 3)
	_, err := gradcheck.Check(backend, func(in []*Node) *Node { return Pointwise(in[0], in[1]) },
		[]*tensors.Tensor{xT, kT}, gradcheck.Options{MaxProbes: 24})
	if err != nil {
		t.Error(err)
	}
}

// gradientGraphSize builds loss = sum(op(x, k)) and its gradients wrt x and k, returning the
// number of nodes of the graph.
func gradientGraphSize(t *testing.T, op func(x, k *Node) *Node, xShape, kShape shapes.Shape) int {
	t.Helper()
	g := NewGraph(tpu.ForTests(), "opcount")
	defer g.Finalize()
	var n int
	err := tryBuild(func() {
		x := Parameter(g, "x", xShape)
		k := Parameter(g, "k", kShape)
		loss := ReduceAllSum(op(x, k))
		Gradient(loss, x, k)
		n = len(g.Nodes())
	})
	if err != nil {
		t.Fatalf("building gradient graph: %+v", err)
	}
	return n
}

// TestConvGradientOpCount: the gradient graph has the same number of ops for 4 and 32 channels
// (GoMLX's stock grouped-convolution gradient builds one convolution per channel).
func TestConvGradientOpCount(t *testing.T) {
	type opCase struct {
		name   string
		op     func(x, k *Node) *Node
		kernel func(c int) []int
	}
	dense := func(c int) []int { return []int{3, 3, c, c} }
	dw := func(c int) []int { return []int{5, 5, 1, c} }
	var cases []opCase
	for _, f := range denseForms {
		cases = append(cases, opCase{"conv_" + f.name, func(x, k *Node) *Node {
			return f.fn(x, k, 2, [2]int{0, 1}, [2]int{0, 1})
		}, dense})
	}
	for _, f := range depthwiseForms {
		cases = append(cases, opCase{"depthwise_" + f.name, func(x, k *Node) *Node {
			return f.fn(x, k, 2, [2]int{1, 2}, [2]int{1, 2})
		}, dw})
	}
	cases = append(cases, opCase{"pointwise", Pointwise, func(c int) []int { return []int{c, c} }})
	for _, tc := range cases {
		var sizes []int
		for _, c := range []int{4, 32} {
			xShape := shapes.Make(dtypes.Float32, 2, 8, 8, c)
			sizes = append(sizes, gradientGraphSize(t, tc.op, xShape, shapes.Make(dtypes.Float32, tc.kernel(c)...)))
		}
		if sizes[0] != sizes[1] {
			t.Errorf("%s: gradient graph has %d nodes for C=4 but %d for C=32", tc.name, sizes[0], sizes[1])
		} else {
			t.Logf("%s: %d nodes for forward+gradient", tc.name, sizes[0])
		}
	}
}

// TestConvBFloat16Builds: the ops build (forward and gradient) for bfloat16.
func TestConvBFloat16Builds(t *testing.T) {
	bf := dtypes.BFloat16
	cases := []struct {
		name   string
		op     func(x, k *Node) *Node
		kShape []int
	}{
		{"conv", func(x, k *Node) *Node { return Conv(x, k, 2, SamePadding) }, []int{3, 3, 4, 6}},
		{"depthwise", func(x, k *Node) *Node { return Depthwise(x, k, 1, SymmetricPadding) }, []int{3, 3, 1, 4}},
		{"pointwise", Pointwise, []int{4, 6}},
	}
	for _, tc := range cases {
		n := gradientGraphSize(t, tc.op, shapes.Make(bf, 2, 6, 6, 4), shapes.Make(bf, tc.kShape...))
		if n == 0 {
			t.Errorf("%s: empty graph", tc.name)
		}
	}
}

// tryBuild runs a graph-building function, returning GoMLX's build-time panic as an error.
func tryBuild(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	fn()
	return nil
}

// TestConvVJPGroupedNCHW checks convGeneralVJP on a grouped (not depthwise) convolution in an
// NCHW / OIHW layout: generic axes, regroupKernel with 2 channels per group, and both kernel
// gradient constructions -- the SimpleGo one (all channel pairs, diagonal blocks) and the
// BatchGroupCount one used on XLA (see testBatchGroupKernelGrad for why it can run here).
func TestConvVJPGroupedNCHW(t *testing.T) {
	backend := tpu.ForTests()
	axes := backends.ConvolveAxesConfig{
		InputBatch: 0, InputChannels: 1, InputSpatial: []int{2, 3},
		KernelOutputChannels: 0, KernelInputChannels: 1, KernelSpatial: []int{2, 3},
		OutputBatch: 0, OutputChannels: 1, OutputSpatial: []int{2, 3},
	}
	for _, groups := range []int{2, 3} {
		cin, cout := 2*groups, groups*groups // Cout = groups^2: see testBatchGroupKernelGrad.
		xT := gradcheck.RandomTensor(12, 2, cin, 6, 5)
		kT := gradcheck.RandomTensor(13, cout, cin/groups, 3, 3)
		for _, stride := range []int{1, 2} {
			for _, batchGroup := range []bool{false, true} {
				testBatchGroupKernelGrad = batchGroup
				_, err := gradcheck.Check(backend, func(in []*Node) *Node {
					return ConvGeneral(in[0], in[1], axes, []int{stride, stride}, [][2]int{{1, 1}, {0, 2}},
						nil, []int{1, 1}, groups, 1)
				}, []*tensors.Tensor{xT, kT}, gradcheck.Options{MaxProbes: 16, Seed: 14})
				testBatchGroupKernelGrad = false
				if err != nil {
					t.Errorf("groups=%d stride=%d batchGroupKernelGrad=%v: %v", groups, stride, batchGroup, err)
				}
			}
		}
	}
}

// TestFormPerBackend: the public Conv and Depthwise pick the loop-free forms (no ConvGeneral,
// forward or gradient) on SimpleGo, whose ConvGeneral is a slow single-threaded loop, and the
// native ConvGeneral elsewhere.
func TestFormPerBackend(t *testing.T) {
	backend := tpu.ForTests()
	wantNative := !strings.HasPrefix(backend.Name(), "SimpleGo") // Not usesLoopFreeForms: that is under test.
	for name, op := range map[string]func(x, k *Node) *Node{
		"Conv": func(x, k *Node) *Node { return Conv(x, k, 2, SamePadding) },
		"Depthwise": func(x, k *Node) *Node {
			return Depthwise(x, Slice(k, AxisRange(), AxisRange(), AxisElem(0)), 2, SamePadding)
		},
	} {
		g := NewGraph(backend, "form")
		err := tryBuild(func() {
			x := Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 8, 8, 4))
			k := Parameter(g, "k", shapes.Make(dtypes.Float32, 3, 3, 4, 4))
			grads := Gradient(ReduceAllSum(op(x, k)), x, k)
			for i, n := range append([]*Node{op(x, k)}, grads...) {
				if got := reachesType(n, NodeTypeConvGeneral); got != wantNative {
					t.Errorf("%s on %s: output #%d uses ConvGeneral = %v, want %v", name, backend.Name(), i, got, wantNative)
				}
			}
		})
		g.Finalize()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestConvVJPOtherRanks: convGeneralVJP is registered for every ConvGeneral GoMLX builds, so it
// is checked on 1 and 3 spatial axes too (channels-last, strided, asymmetric padding, dilated
// kernel, grouped).
func TestConvVJPOtherRanks(t *testing.T) {
	backend := tpu.ForTests()
	for _, spatial := range []int{1, 3} {
		rank := spatial + 2
		axes := backends.ConvolveAxesConfig{
			InputBatch: 0, InputChannels: rank - 1, KernelInputChannels: spatial, KernelOutputChannels: spatial + 1,
			OutputBatch: 0, OutputChannels: rank - 1,
		}
		xDims, kDims := []int{2}, []int{}
		var strides, dilations []int
		var pads [][2]int
		for d := range spatial {
			axes.InputSpatial = append(axes.InputSpatial, 1+d)
			axes.OutputSpatial = append(axes.OutputSpatial, 1+d)
			axes.KernelSpatial = append(axes.KernelSpatial, d)
			xDims = append(xDims, 5+d)
			kDims = append(kDims, 2+d%2)
			strides = append(strides, 1+d%2)
			dilations = append(dilations, 1+(d+1)%2)
			pads = append(pads, [2]int{d % 2, 1})
		}
		xDims = append(xDims, 4)
		kDims = append(kDims, 2, 4) // 2 groups of 2 input channels, 4 output channels.
		_, err := gradcheck.Check(backend, func(in []*Node) *Node {
			return ConvGeneral(in[0], in[1], axes, strides, pads, nil, dilations, 2, 1)
		}, []*tensors.Tensor{gradcheck.RandomTensor(15, xDims...), gradcheck.RandomTensor(16, kDims...)},
			gradcheck.Options{MaxProbes: 16, Seed: 17})
		if err != nil {
			t.Errorf("%d spatial axes: %v", spatial, err)
		}
	}
}

// TestConvVJPNegativePadding: ConvGeneral accepts negative paddings (dropped input positions);
// the kernel gradient must drop the same positions, also with a dilated kernel, where cropping
// the result instead gives a wrong shape and wrong values.
func TestConvVJPNegativePadding(t *testing.T) {
	for _, groups := range []int{1, 2} {
		for _, dilation := range []int{1, 2} {
			for _, stride := range []int{1, 2} {
				_, err := gradcheck.Check(tpu.ForTests(), func(in []*Node) *Node {
					return ConvGeneral(in[0], in[1], nhwcAxes, []int{stride, stride}, [][2]int{{-1, 1}, {2, -1}}, nil,
						[]int{dilation, dilation}, groups, 1)
				}, []*tensors.Tensor{gradcheck.RandomTensor(18, 2, 9, 8, 2), gradcheck.RandomTensor(19, 3, 3, 2/groups, 2)},
					gradcheck.Options{MaxProbes: 16, Seed: 20})
				if err != nil {
					t.Errorf("groups=%d dilation=%d stride=%d: %v", groups, dilation, stride, err)
				}
			}
		}
	}
}
