package ops

import (
	"fmt"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/supcon-go/supcon/model/gradcheck"
	"github.com/supcon-go/supcon/tpu"
)

// xlaConvRef is a plain-Go ConvGeneral with XLA's semantics (operation_semantics.md, "Conv"):
// any dimension layout, 2 spatial axes, input (lhs) and kernel (rhs) dilations, feature groups,
// and batch groups -- output feature o belongs to batch group o/(O/batchGroups) and reads input
// batch group*(B/batchGroups) + outputBatch. It exists because SimpleGo's BatchGroupCount differs
// from XLA's, so the XLA-path kernel gradient cannot be checked by running it here.
func xlaConvRef(x, k []float64, xDims, kDims []int, p convParams) (out []float64, outDims []int) {
	a := p.axes
	b := xDims[a.InputBatch]
	o, kin := kDims[a.KernelOutputChannels], kDims[a.KernelInputChannels]
	var outSpatial, kSpatial, inSpatial [2]int
	for d := range 2 {
		inSpatial[d] = xDims[a.InputSpatial[d]]
		kSpatial[d] = kDims[a.KernelSpatial[d]]
		dilatedIn := (inSpatial[d]-1)*p.inputDilations[d] + 1
		dilatedK := (kSpatial[d]-1)*p.kernelDilations[d] + 1
		outSpatial[d] = (dilatedIn+p.paddings[d][0]+p.paddings[d][1]-dilatedK)/p.strides[d] + 1
	}
	outB := b / p.batchGroupCount
	outDims = make([]int, 4)
	outDims[a.OutputBatch], outDims[a.OutputChannels] = outB, o
	outDims[a.OutputSpatial[0]], outDims[a.OutputSpatial[1]] = outSpatial[0], outSpatial[1]
	out = make([]float64, outB*o*outSpatial[0]*outSpatial[1])
	index := func(dims []int, at map[int]int) int {
		i := 0
		for ax, d := range dims {
			i = i*d + at[ax]
		}
		return i
	}
	for ob := range outB {
		for oc := range o {
			featureGroup := oc / (o / p.channelGroupCount)
			inBatch := oc/(o/p.batchGroupCount)*(b/p.batchGroupCount) + ob
			for o0 := range outSpatial[0] {
				for o1 := range outSpatial[1] {
					var sum float64
					for ic := range kin {
						for t0 := range kSpatial[0] {
							for t1 := range kSpatial[1] {
								pos := [2]int{o0*p.strides[0] + t0*p.kernelDilations[0] - p.paddings[0][0],
									o1*p.strides[1] + t1*p.kernelDilations[1] - p.paddings[1][0]}
								var src [2]int
								inside := true
								for d := range 2 {
									if pos[d] < 0 || pos[d]%p.inputDilations[d] != 0 || pos[d]/p.inputDilations[d] >= inSpatial[d] {
										inside = false
									}
									src[d] = pos[d] / p.inputDilations[d]
								}
								if !inside {
									continue
								}
								xi := index(xDims, map[int]int{a.InputBatch: inBatch, a.InputChannels: featureGroup*kin + ic,
									a.InputSpatial[0]: src[0], a.InputSpatial[1]: src[1]})
								ki := index(kDims, map[int]int{a.KernelOutputChannels: oc, a.KernelInputChannels: ic,
									a.KernelSpatial[0]: t0, a.KernelSpatial[1]: t1})
								sum += x[xi] * k[ki]
							}
						}
					}
					out[index(outDims, map[int]int{a.OutputBatch: ob, a.OutputChannels: oc,
						a.OutputSpatial[0]: o0, a.OutputSpatial[1]: o1})] = sum
				}
			}
		}
	}
	return out, outDims
}

// evalWithXLARef evaluates a graph made of ConvGeneral and Slice nodes over Parameters, with
// xlaConvRef for the convolutions: enough for the graphs convKernelGrad builds.
func evalWithXLARef(t *testing.T, n *Node, params map[*Node][]float64) ([]float64, []int) {
	t.Helper()
	if v, ok := params[n]; ok {
		return v, n.Shape().Dimensions
	}
	switch n.Type() {
	case NodeTypeConvGeneral:
		x, xDims := evalWithXLARef(t, n.Inputs()[0], params)
		k, kDims := evalWithXLARef(t, n.Inputs()[1], params)
		p, err := readConvParams(n)
		if err != nil {
			t.Fatal(err)
		}
		p.normalize()
		out, dims := xlaConvRef(x, k, xDims, kDims, p)
		if fmt.Sprint(dims) != fmt.Sprint(n.Shape().Dimensions) {
			t.Fatalf("reference conv gives %v, GoMLX's shape inference %s: the reference is wrong", dims, n.Shape())
		}
		return out, dims
	case NodeTypeSlice:
		x, xDims := evalWithXLARef(t, n.Inputs()[0], params)
		s, err := nodeIntsParams(n, "starts", "strides")
		if err != nil {
			t.Fatal(err)
		}
		dims := n.Shape().Dimensions
		out := make([]float64, n.Shape().Size())
		for i := range out {
			src, rest := 0, i
			coords := make([]int, len(dims))
			for ax := len(dims) - 1; ax >= 0; ax-- {
				coords[ax], rest = rest%dims[ax], rest/dims[ax]
			}
			for ax := range dims {
				src = src*xDims[ax] + s[0][ax] + coords[ax]*max(s[1][ax], 1)
			}
			out[i] = x[src]
		}
		return out, dims
	}
	t.Fatalf("evalWithXLARef: unsupported node %s", n)
	return nil, nil
}

// TestDepthwiseKernelGradXLAForm checks the kernel gradient convKernelGrad builds for XLA (one
// ConvGeneral with BatchGroupCount = C, what JAX does) for a depthwise NHWC convolution -- the
// form EfficientNet trains with on TPU/GPU -- by evaluating the built graph with XLA's semantics
// (xlaConvRef) and comparing with dk[i,j,0,c] = Σ_{b,ho,wo} xPadded[b, ho·s+i, wo·s+j, c]·v[b,ho,wo,c]
// computed directly, over the test grid (strides 1/2, odd/even sizes, kernels 1/3/5, paddings).
func TestDepthwiseKernelGradXLAForm(t *testing.T) {
	const batch, channels = 2, 3
	for _, c := range convGrid() {
		padH, padW := c.pads()
		ho := (c.h+padH[0]+padH[1]-c.k)/c.stride + 1
		wo := (c.w+padW[0]+padW[1]-c.k)/c.stride + 1
		xT := gradcheck.RandomTensor(41, batch, c.h, c.w, channels)
		vT := gradcheck.RandomTensor(42, batch, ho, wo, channels)
		x, v := tensors.MustCopyFlatData[float64](xT), tensors.MustCopyFlatData[float64](vT)

		want := make([]float64, c.k*c.k*channels)
		for i := range c.k {
			for j := range c.k {
				for ch := range channels {
					for b := range batch {
						for oh := range ho {
							for ow := range wo {
								h, w := oh*c.stride+i-padH[0], ow*c.stride+j-padW[0]
								if h < 0 || h >= c.h || w < 0 || w >= c.w {
									continue
								}
								want[(i*c.k+j)*channels+ch] += x[((b*c.h+h)*c.w+w)*channels+ch] * v[((b*ho+oh)*wo+ow)*channels+ch]
							}
						}
					}
				}
			}
		}

		g := NewGraph(tpu.ForTests(), "xla_kernel_grad")
		xN, vN := Parameter(g, "x", xT.Shape()), Parameter(g, "v", vT.Shape())
		kN := Parameter(g, "k", gradcheck.RandomTensor(1, c.k, c.k, 1, channels).Shape())
		p := convParams{axes: nhwcAxes, strides: []int{c.stride, c.stride}, paddings: [][2]int{padH, padW},
			channelGroupCount: channels}
		p.normalize()
		testBatchGroupKernelGrad = true
		dk := convKernelGrad(xN, kN, vN, &p)
		testBatchGroupKernelGrad = false
		if !reachesType(dk, NodeTypeConvGeneral) {
			t.Fatalf("%s: kernel gradient has no ConvGeneral", c)
		}
		got, dims := evalWithXLARef(t, dk, map[*Node][]float64{xN: x, vN: v})
		g.Finalize()
		checkClose(t, "depthwise XLA kernel gradient "+c.String(), tensors.FromFlatDataAndDimensions(got, dims...),
			want, []int{c.k, c.k, 1, channels})
	}
}

// TestXLAConvRef pins xlaConvRef to the direct convolution refConv (dense and depthwise, NHWC),
// so the batch-group check above rests on a reference that agrees where the semantics are plain.
func TestXLAConvRef(t *testing.T) {
	for _, depthwise := range []bool{false, true} {
		for _, c := range convGrid() {
			padH, padW := c.pads()
			xT := gradcheck.RandomTensor(43, 2, c.h, c.w, 3)
			kd := kernelDims(c, 3, 2, depthwise)
			kT := gradcheck.RandomTensor(44, kd...)
			x, k := tensors.MustCopyFlatData[float64](xT), tensors.MustCopyFlatData[float64](kT)
			want, wantDims := refConv(x, k, xT.Shape().Dimensions, kd, c.stride, padH, padW, depthwise)
			p := convParams{axes: nhwcAxes, strides: []int{c.stride, c.stride}, paddings: [][2]int{padH, padW}}
			if depthwise {
				p.channelGroupCount = 3
			}
			p.normalize()
			got, dims := xlaConvRef(x, k, xT.Shape().Dimensions, kd, p)
			checkClose(t, fmt.Sprintf("xlaConvRef depthwise=%v %s", depthwise, c), tensors.FromFlatDataAndDimensions(got, dims...),
				want, wantDims)
		}
	}
}

// TestNativeConvsMatchXLASemantics: every ConvGeneral that the native (XLA-path) dense and
// depthwise forms build, forward and gradient, gives on the test backend the result xlaConvRef
// gives. The finite-difference checks run those forms on SimpleGo; this carries them over to XLA
// for everything but the BatchGroupCount kernel gradient (TestDepthwiseKernelGradXLAForm).
func TestNativeConvsMatchXLASemantics(t *testing.T) {
	backend := tpu.ForTests()
	for _, depthwise := range []bool{false, true} {
		for _, c := range convGrid() {
			padH, padW := c.pads()
			xT := gradcheck.RandomTensor(45, 2, c.h, c.w, 3)
			kT := gradcheck.RandomTensor(46, kernelDims(c, 3, 2, depthwise)...)
			var convs []*Node
			exec, err := NewExec(backend, func(x, k *Node) []*Node {
				groups := 1
				if depthwise {
					groups = 3
				}
				y := convNative(x, k, c.stride, padH, padW, groups)
				w := Const(x.Graph(), gradcheck.RandomTensor(47, y.Shape().Dimensions...))
				Gradient(ReduceAllSum(Mul(y, w)), x, k)
				var outs []*Node
				for _, n := range x.Graph().Nodes() {
					if n.Type() == NodeTypeConvGeneral {
						convs = append(convs, n)
						outs = append(outs, n, n.Inputs()[0], n.Inputs()[1])
					}
				}
				return outs
			})
			if err != nil {
				t.Fatal(err)
			}
			outs, err := exec.Exec(xT, kT)
			if err != nil {
				t.Fatalf("depthwise=%v %s: %v", depthwise, c, err)
			}
			if len(convs) != 3 {
				t.Errorf("depthwise=%v %s: %d ConvGenerals, want 3 (forward, input and kernel gradients)", depthwise, c, len(convs))
			}
			for i, n := range convs {
				p, err := readConvParams(n)
				if err != nil {
					t.Fatal(err)
				}
				p.normalize()
				in, k := outs[3*i+1], outs[3*i+2]
				want, wantDims := xlaConvRef(tensors.MustCopyFlatData[float64](in), tensors.MustCopyFlatData[float64](k),
					in.Shape().Dimensions, k.Shape().Dimensions, p)
				checkClose(t, fmt.Sprintf("depthwise=%v %s conv #%d (%s)", depthwise, c, i, n), outs[3*i], want, wantDims)
			}
			exec.Finalize()
		}
	}
}
