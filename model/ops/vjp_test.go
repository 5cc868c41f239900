package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/supcon-go/supcon/model/gradcheck"
	"github.com/supcon-go/supcon/tpu"
)

// checkGrad runs a float64 finite-difference check of fn's gradient wrt all inputs.
func checkGrad(t *testing.T, name string, fn func([]*Node) *Node, inputs ...*tensors.Tensor) {
	t.Helper()
	rep, err := gradcheck.Check(tpu.ForTests(), fn, inputs, gradcheck.Options{Seed: 7})
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	t.Logf("%s: %d probes, max abs err %.3g", name, rep.Probes, rep.MaxAbsErr)
}

func TestSliceVJP(t *testing.T) {
	x := gradcheck.RandomTensor(1, 5, 7, 4)
	cases := []struct {
		name string
		spec []SliceAxisSpec
	}{
		{"axis0", []SliceAxisSpec{AxisRange(1, 4)}},
		{"axis1-2", []SliceAxisSpec{AxisRange(), AxisRange(2, 6), AxisRange(1)}},
		{"strided-axis1", []SliceAxisSpec{AxisRange(), AxisRange(1, 7).Stride(2)}},
		{"strided-all-axes", []SliceAxisSpec{AxisRange(0, 5).Stride(2), AxisRange(1, 6).Stride(3), AxisRange(1, 4).Stride(2)}},
		{"single-element", []SliceAxisSpec{AxisElem(4), AxisElem(0), AxisElem(3)}},
	}
	for _, c := range cases {
		checkGrad(t, "Slice "+c.name, func(in []*Node) *Node { return Slice(in[0], c.spec...) }, x)
	}
}

func TestDotGeneralVJP(t *testing.T) {
	r := gradcheck.RandomTensor
	cases := []struct {
		name     string
		lhs, rhs *tensors.Tensor
		fn       func(lhs, rhs *Node) *Node
	}{
		{"matmul", r(1, 3, 4), r(2, 4, 5), func(a, b *Node) *Node { return MatMul(a, b) }},
		{"matvec", r(1, 3, 4), r(2, 4), func(a, b *Node) *Node { return Dot(a, b) }},
		{"vecvec", r(1, 4), r(2, 4), func(a, b *Node) *Node { return Dot(a, b) }},
		{"batched-matmul", r(3, 2, 3, 4), r(4, 2, 4, 5), func(a, b *Node) *Node { return MatMul(a, b) }},
		{"dense-with-batch-dims", r(5, 2, 3, 4), r(6, 4, 5), func(a, b *Node) *Node { return Einsum("bsi,io->bso", a, b) }},
		{"einsum-permuted", r(7, 3, 2, 4, 5), r(8, 5, 4, 2), func(a, b *Node) *Node { return Einsum("ibjk,kjb->bi", a, b) }},
		// Batch axes in different positions and two contracting axes given in non-increasing order.
		{"dotgeneral-2-contractions", r(9, 2, 3, 4, 5), r(10, 5, 6, 4, 2), func(a, b *Node) *Node {
			return DotGeneral(a, []int{3, 2}, []int{0}, b, []int{0, 2}, []int{3})
		}},
		{"dotgeneral-2-batch-axes-swapped", r(11, 2, 3, 4), r(12, 3, 4, 2), func(a, b *Node) *Node {
			return DotGeneral(a, []int{2}, []int{1, 0}, b, []int{1}, []int{0, 2})
		}},
		{"dotgeneral-no-contraction", r(13, 2, 3), r(14, 2, 4), func(a, b *Node) *Node {
			return DotGeneral(a, nil, []int{0}, b, nil, []int{0})
		}},
	}
	for _, c := range cases {
		checkGrad(t, c.name, func(in []*Node) *Node { return c.fn(in[0], in[1]) }, c.lhs, c.rhs)
	}
}

// TestDotGeneralVJPBuildsDotGenerals makes sure the registered VJP is the matrix-product one (the
// stock one is correct too, so the finite-difference checks alone cannot tell them apart).
func TestDotGeneralVJPBuildsDotGenerals(t *testing.T) {
	g := NewGraph(tpu.ForTests(), "vjp")
	a := Parameter(g, "a", gradcheck.RandomTensor(1, 64, 32).Shape())
	b := Parameter(g, "b", gradcheck.RandomTensor(1, 32, 16).Shape())
	loss := ReduceAllSum(DotGeneral(a, []int{1}, nil, b, []int{0}, nil))
	grads := Gradient(loss, a, b)
	for i, grad := range grads {
		if !reachesType(grad, NodeTypeDotGeneral) {
			t.Errorf("gradient #%d does not use DotGeneral", i)
		}
		if reachesShapeLargerThan(grad, 64*32) {
			t.Errorf("gradient #%d materialises a tensor larger than its operand (broadcast product)", i)
		}
	}
	g.Finalize()
}

func reachesType(n *Node, want NodeType) bool {
	return walk(n, func(m *Node) bool { return m.Type() == want })
}

func reachesShapeLargerThan(n *Node, size int) bool {
	return walk(n, func(m *Node) bool { return m.Shape().Size() > size })
}

func walk(n *Node, pred func(*Node) bool) bool {
	seen := map[NodeId]bool{}
	var rec func(*Node) bool
	rec = func(m *Node) bool {
		if seen[m.Id()] {
			return false
		}
		seen[m.Id()] = true
		if pred(m) {
			return true
		}
		return slices.ContainsFunc(m.Inputs(), rec)
	}
	return rec(n)
}

func TestElementwiseVJPs(t *testing.T) {
	positive := gradcheck.RandomTensor(3, 4, 5)
	flat := tensors.MustCopyFlatData[float64](positive)
	for i := range flat {
		flat[i] = 0.2 + (flat[i]+1)*2 // [0.2, 4.2): away from Rsqrt's pole.
	}
	positive = tensors.FromFlatDataAndDimensions(flat, 4, 5)
	checkGrad(t, "Rsqrt", func(in []*Node) *Node { return Rsqrt(in[0]) }, positive)
	checkGrad(t, "Expm1", func(in []*Node) *Node { return Expm1(in[0]) }, gradcheck.RandomTensor(4, 4, 5))
	// x in [-2, 2), min in [-1.5, -0.5), max in [0.5, 1.5): parts of x fall below, inside and above.
	checkGrad(t, "Clamp", func(in []*Node) *Node {
		return Clamp(AddScalar(MulScalar(in[1], 0.5), -1), MulScalar(in[0], 2), AddScalar(MulScalar(in[2], 0.5), 1))
	}, gradcheck.RandomTensor(5, 6, 5), gradcheck.RandomTensor(6, 6, 5), gradcheck.RandomTensor(7, 6, 5))
	checkGrad(t, "Clip-scalar-bounds", func(in []*Node) *Node {
		g := in[0].Graph()
		return Clip(in[0], Const(g, -0.5), Const(g, 0.5))
	}, gradcheck.RandomTensor(8, 6, 5))
}

// TestNodeParams checks that the reflection-based parameter reading agrees with GoMLX's own
// description of the node, so a GoMLX upgrade that renames the fields fails here first.
func TestNodeParams(t *testing.T) {
	g := NewGraph(tpu.ForTests(), "params")
	defer g.Finalize()
	x := Parameter(g, "x", gradcheck.RandomTensor(1, 5, 7).Shape())
	s := Slice(x, AxisRange(1, 4), AxisRange(0, 7).Stride(3))
	p, err := nodeIntsParams(s, "starts", "limits", "strides")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("starts=%v, limits=%v, strides=%v", p[0], p[1], p[2])
	if !strings.Contains(s.String(), want) || want != "starts=[1 0], limits=[4 7], strides=[1 3]" {
		t.Errorf("read %q, node is %s", want, s)
	}
	d := DotGeneral(x, []int{1}, nil, Parameter(g, "y", gradcheck.RandomTensor(1, 7, 2).Shape()), []int{0}, nil)
	q, err := nodeIntsParams(d, "lhsContractingAxes", "lhsBatchAxes", "rhsContractingAxes", "rhsBatchAxes")
	if err != nil {
		t.Fatal(err)
	}
	want = fmt.Sprintf("lhsContractingAxes=%v, lhsBatchAxes=%v", q[0], q[1])
	if !strings.Contains(d.String(), want) || q[0][0] != 1 || q[2][0] != 0 {
		t.Errorf("read %v, node is %s", q, d)
	}
	if _, err := nodeIntsParam(d, "noSuchField"); err == nil {
		t.Error("reading a missing field gave no error")
	}
}

// TestEfficientNetOpMixGradient checks, on the test backend, the gradient of a squeeze-and-excite
// style block built from the ops an EfficientNet step differentiates besides convolutions and
// batch norm: swish (Logistic, Mul), global average pooling (ReduceMean), a dense layer (Dot),
// sigmoid gating with broadcast, dropout's Where with a fixed mask, Concatenate and Slice,
// and a log-softmax (ReduceMax, Exp, Log).
func TestEfficientNetOpMixGradient(t *testing.T) {
	mask := make([]bool, 2*3*3*4)
	for i := range mask {
		mask[i] = i%3 != 0
	}
	checkGrad(t, "SE block mix", func(in []*Node) *Node {
		x, w := in[0], in[1]
		g := x.Graph()
		act := Mul(x, Sigmoid(x))                // swish, [2,3,3,4]
		pooled := ReduceMean(act, 1, 2)          // [2,4]
		gate := Sigmoid(Dot(pooled, w))          // [2,4]
		y := Mul(act, Reshape(gate, 2, 1, 1, 4)) // broadcast gating
		kept := Const(g, tensors.FromFlatDataAndDimensions(mask, 2, 3, 3, 4))
		y = Where(kept, DivScalar(y, 2.0/3), ZerosLike(y))                  // dropout, keep 2/3
		y = Concatenate([]*Node{y, Slice(x, AxisRange(), AxisRange(1))}, 1) // [2,5,3,4]
		logits := Reshape(ReduceSum(y, 1, 2), 2, 4)
		return LogSoftmax(logits)
	}, gradcheck.RandomTensor(21, 2, 3, 3, 4), gradcheck.RandomTensor(22, 4, 4))
}

// padCapableBackend claims the Pad op, to check that sliceVJP then defers to GoMLX's stock VJP
// (a single Pad) instead of the Concatenate-based one. The graph's builder is still SimpleGo's,
// which rejects Pad: the error proves the dispatch.
type padCapableBackend struct{ backends.Backend }

func (b padCapableBackend) Capabilities() backends.Capabilities {
	c := b.Backend.Capabilities().Clone()
	c.Operations[backends.OpTypePad] = true
	return c
}

func TestSliceVJPDispatch(t *testing.T) {
	backend := tpu.ForTests()
	if backend.Capabilities().Operations[backends.OpTypePad] {
		t.Skip("test backend has Pad: the dispatch is exercised by TestSliceVJP already")
	}
	build := func(b backends.Backend) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		g := NewGraph(b, "slice")
		defer g.Finalize()
		x := Parameter(g, "x", gradcheck.RandomTensor(1, 4, 4).Shape())
		Gradient(ReduceAllSum(Slice(x, AxisRange(1, 3))), x)
		return nil
	}
	if err := build(backend); err != nil {
		t.Fatalf("without Pad: %v", err)
	}
	err := build(padCapableBackend{backend})
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "pad") {
		t.Errorf("with Pad claimed: got error %v, want the stock VJP's Pad to be attempted", err)
	}
	t.Logf("with Pad claimed: %.120s", err)
}

// TestDotGeneralVJPRandomConfigs compares the DotGeneral VJP with GoMLX's stock one (slow but
// correct) on random configurations: 0-2 batch axes, 0-2 contracting axes and 0-2 free axes per
// operand, every axis role placed at a random position of each operand.
func TestDotGeneralVJPRandomConfigs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 40 {
		nb, nc := rng.IntN(3), rng.IntN(3)
		nlf, nrf := rng.IntN(3), rng.IntN(3)
		if nb+nc+nlf == 0 || nb+nc+nrf == 0 {
			continue
		}
		dimsOf := func(n int) []int {
			d := make([]int, n)
			for i := range d {
				d[i] = 1 + rng.IntN(3)
			}
			return d
		}
		batchDims, contractDims := dimsOf(nb), dimsOf(nc)
		// operand places its batch, contracting and free axes at random positions.
		operand := func(free int) (dims, batchAxes, contractAxes []int) {
			rank := nb + nc + free
			perm := rng.Perm(rank)
			dims = make([]int, rank)
			batchAxes, contractAxes = perm[:nb], perm[nb:nb+nc]
			for i, a := range batchAxes {
				dims[a] = batchDims[i]
			}
			for i, a := range contractAxes {
				dims[a] = contractDims[i]
			}
			for _, a := range perm[nb+nc:] {
				dims[a] = 1 + rng.IntN(3)
			}
			return
		}
		lDims, lb, lc := operand(nlf)
		rDims, rb, rc := operand(nrf)
		name := fmt.Sprintf("trial %d: lhs %v c%v b%v, rhs %v c%v b%v", trial, lDims, lc, lb, rDims, rc, rb)
		lhs, rhs := gradcheck.RandomTensor(uint64(trial), lDims...), gradcheck.RandomTensor(uint64(trial+100), rDims...)
		exec, err := NewExec(tpu.ForTests(), func(a, b *Node) []*Node {
			out := DotGeneral(a, lc, lb, b, rc, rb)
			w := Const(a.Graph(), gradcheck.RandomTensor(uint64(trial+200), out.Shape().Dimensions...))
			loss := ReduceAllSum(Mul(out, w))
			grads := Gradient(loss, a, b)
			withStockVJP(NodeTypeDotGeneral, func() { grads = append(grads, Gradient(loss, a, b)...) })
			return grads
		})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := exec.Exec(lhs, rhs)
		exec.Finalize()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, which := range []string{"lhs", "rhs"} {
			ours, stock := tensors.MustCopyFlatData[float64](outs[i]), tensors.MustCopyFlatData[float64](outs[i+2])
			for j := range ours {
				if math.Abs(ours[j]-stock[j]) > 1e-12 {
					t.Errorf("%s: gradient wrt %s [%d] = %g, stock VJP %g", name, which, j, ours[j], stock[j])
					break
				}
			}
		}
	}
}

func TestReduceWindowVJP(t *testing.T) {
	x := gradcheck.RandomTensor(31, 2, 7, 6, 3)
	cases := []struct {
		name string
		fn   func(x *Node) *Node
	}{
		{"MaxPool 2x2 s2", func(x *Node) *Node { return MaxPool(x).Window(2).Strides(2).Done() }},
		{"MaxPool 3x3 s2 same", func(x *Node) *Node { return MaxPool(x).Window(3).Strides(2).PadSame().Done() }},
		{"MinPool 3x2 s1", func(x *Node) *Node { return MinPool(x).WindowPerAxis(3, 2).Strides(1).Done() }},
		{"SumPool 3x3 s2", func(x *Node) *Node { return SumPool(x).Window(3).Strides(2).Done() }},
		{"MeanPool 3x3 s1 same", func(x *Node) *Node { return MeanPool(x).Window(3).Strides(1).PadSame().Done() }},
		{"ReduceWindow max dilated", func(x *Node) *Node {
			return BackendReduceWindow(x, backends.ReduceOpMax, []int{1, 2, 2, 1}, []int{1, 1, 2, 1}, nil, []int{1, 2, 1, 1}, [][2]int{{0, 0}, {1, 0}, {0, 1}, {0, 0}})
		}},
		{"ReduceWindow sum default strides", func(x *Node) *Node {
			return BackendReduceWindow(x, backends.ReduceOpSum, []int{1, 3, 2, 1}, nil, nil, nil, nil)
		}},
	}
	for _, c := range cases {
		checkGrad(t, c.name, func(in []*Node) *Node { return c.fn(in[0]) }, x)
	}
}

// TestMaxPoolVJPTies: with equal values in a window only the first gets the cotangent, as XLA's
// SelectAndScatter does (and as a max has a single subgradient to give).
func TestMaxPoolVJPTies(t *testing.T) {
	x := tensors.FromValue([][][][]float64{{{{1}, {1}}, {{1}, {0}}}}) // [1, 2, 2, 1], three tied maxima
	got, err := ExecOnce(tpu.ForTests(), func(x *Node) *Node {
		return Gradient(ReduceAllSum(MaxPool(x).Window(2).Done()), x)[0]
	}, x)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1, 0, 0, 0}
	if g := tensors.MustCopyFlatData[float64](got); !slices.Equal(g, want) {
		t.Errorf("gradient %v, want %v", g, want)
	}
}

// TestReadConvParams checks the reflection-based reading of a ConvGeneral node against the
// parameters it was built with (all non-default, NCHW layout) and GoMLX's description of the
// node, and that another node type gives an error naming the missing parameter.
func TestReadConvParams(t *testing.T) {
	g := NewGraph(tpu.ForTests(), "conv_params")
	defer g.Finalize()
	axes := backends.ConvolveAxesConfig{
		InputBatch: 0, InputChannels: 1, InputSpatial: []int{2, 3},
		KernelOutputChannels: 0, KernelInputChannels: 1, KernelSpatial: []int{2, 3},
		OutputBatch: 0, OutputChannels: 1, OutputSpatial: []int{2, 3},
	}
	x := Parameter(g, "x", gradcheck.RandomTensor(1, 2, 4, 9, 9).Shape())
	k := Parameter(g, "k", gradcheck.RandomTensor(1, 6, 2, 3, 2).Shape())
	conv := ConvGeneral(x, k, axes, []int{2, 1}, [][2]int{{1, 0}, {0, 2}}, nil, []int{1, 2}, 2, 1)
	p, err := readConvParams(conv)
	if err != nil {
		t.Fatal(err)
	}
	want := convParams{axes: axes, strides: []int{2, 1}, paddings: [][2]int{{1, 0}, {0, 2}},
		kernelDilations: []int{1, 2}, channelGroupCount: 2, batchGroupCount: 1}
	if fmt.Sprintf("%+v", p) != fmt.Sprintf("%+v", want) {
		t.Errorf("read  %+v\nwant %+v", p, want)
	}
	desc := fmt.Sprintf("axes=%+v, strides=%v, paddings=%v", p.axes, p.strides, p.paddings)
	if !strings.Contains(conv.String(), desc) {
		t.Errorf("read %q, node is %s", desc, conv)
	}
	_, err = readConvParams(Slice(x, AxisRange(1)))
	if err == nil || !strings.Contains(err.Error(), "inputDilations") {
		t.Errorf("reading conv parameters of a Slice node: got %v, want an error naming the missing field", err)
	}
}
