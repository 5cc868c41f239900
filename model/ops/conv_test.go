package ops

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/supcon-go/supcon/model/gradcheck"
	"github.com/supcon-go/supcon/tpu"
)

// refConv is the textbook nested-loop convolution of x [B,H,W,Cin] with kernel [kh,kw,Cin,Cout]
// (dense) or [kh,kw,1,C] (depthwise), zero padded by padH/padW, in float64.
func refConv(x, k []float64, xDims, kDims []int, stride int, padH, padW [2]int, depthwise bool) ([]float64, []int) {
	b, h, w, cin := xDims[0], xDims[1], xDims[2], xDims[3]
	kh, kw, cout := kDims[0], kDims[1], kDims[3]
	ho := (h+padH[0]+padH[1]-kh)/stride + 1
	wo := (w+padW[0]+padW[1]-kw)/stride + 1
	out := make([]float64, b*ho*wo*cout)
	xAt := func(bi, hi, wi, ci int) float64 {
		hi -= padH[0]
		wi -= padW[0]
		if hi < 0 || hi >= h || wi < 0 || wi >= w {
			return 0
		}
		return x[((bi*h+hi)*w+wi)*cin+ci]
	}
	kIn := kDims[2]
	for bi := range b {
		for oh := range ho {
			for ow := range wo {
				for co := range cout {
					var sum float64
					for i := range kh {
						for j := range kw {
							if depthwise {
								sum += xAt(bi, oh*stride+i, ow*stride+j, co) * k[((i*kw+j)*kIn)*cout+co]
								continue
							}
							for ci := range cin {
								sum += xAt(bi, oh*stride+i, ow*stride+j, ci) * k[((i*kw+j)*kIn+ci)*cout+co]
							}
						}
					}
					out[((bi*ho+oh)*wo+ow)*cout+co] = sum
				}
			}
		}
	}
	return out, []int{b, ho, wo, cout}
}

// convCase is one point of the test grid.
type convCase struct {
	h, w, k, stride int
	padding         Padding
	explicit        bool // use padH/padW instead of padding
	padH, padW      [2]int
}

func (c convCase) String() string {
	pad := c.padding.String()
	if c.explicit {
		pad = fmt.Sprintf("pads%v%v", c.padH, c.padW)
	}
	return fmt.Sprintf("%dx%d_k%d_s%d_%s", c.h, c.w, c.k, c.stride, pad)
}

// pads resolves the case's padding like Conv does.
func (c convCase) pads() (padH, padW [2]int) {
	if c.explicit {
		return c.padH, c.padW
	}
	padH[0], padH[1] = Pads(c.h, c.k, c.stride, c.padding)
	padW[0], padW[1] = Pads(c.w, c.k, c.stride, c.padding)
	return
}

// convGrid: strides 1 and 2, odd and even sizes, kernels 1/3/5, both paddings and explicit pads.
func convGrid() []convCase {
	var cases []convCase
	for _, hw := range [][2]int{{5, 6}, {6, 7}} {
		for _, k := range []int{1, 3, 5} {
			for _, s := range []int{1, 2} {
				cases = append(cases,
					convCase{h: hw[0], w: hw[1], k: k, stride: s, padding: SamePadding},
					convCase{h: hw[0], w: hw[1], k: k, stride: s, padding: SymmetricPadding},
					convCase{h: hw[0], w: hw[1], k: k, stride: s, explicit: true, padH: [2]int{0, 2}, padW: [2]int{1, 0}})
			}
		}
	}
	return cases
}

// convForm is one way of building a convolution, for tests and benchmarks.
type convForm struct {
	name string
	fn   func(x, k *Node, stride int, padH, padW [2]int) *Node
}

var denseForms = []convForm{
	{"public", ConvWithPads},
	{"im2col", convIm2col},
	{"tapsum", convTapSum},
	{"native", func(x, k *Node, s int, ph, pw [2]int) *Node { return convNative(x, k, s, ph, pw, 1) }},
}

var depthwiseForms = []convForm{
	{"public", DepthwiseWithPads},
	{"tapsum", depthwiseTapSum},
	{"direct", depthwiseTapSumDirect},
	{"stacked", depthwiseStacked},
	{"native", func(x, k *Node, s int, ph, pw [2]int) *Node {
		return convNative(x, k, s, ph, pw, x.Shape().Dimensions[3])
	}},
}

// formsFor returns the depthwise or the dense forms.
func formsFor(depthwise bool) []convForm {
	if depthwise {
		return depthwiseForms
	}
	return denseForms
}

func kernelDims(c convCase, cin, cout int, depthwise bool) []int {
	if depthwise {
		return []int{c.k, c.k, 1, cin}
	}
	return []int{c.k, c.k, cin, cout}
}

func TestPads(t *testing.T) {
	// TF "SAME" (tf.nn.conv2d docs): out = ceil(in/s); extra padding goes after.
	for _, tc := range []struct {
		in, k, s     int
		p            Padding
		before, aftr int
	}{
		{5, 3, 1, SamePadding, 1, 1},
		{5, 3, 2, SamePadding, 1, 1},
		{6, 3, 2, SamePadding, 0, 1},
		{224, 3, 2, SamePadding, 0, 1},
		{7, 5, 2, SamePadding, 2, 2},
		{8, 5, 2, SamePadding, 1, 2},
		{4, 1, 2, SamePadding, 0, 0},
		{6, 3, 2, SymmetricPadding, 1, 1},
		{8, 5, 2, SymmetricPadding, 2, 2},
		{8, 1, 1, SymmetricPadding, 0, 0},
	} {
		b, a := Pads(tc.in, tc.k, tc.s, tc.p)
		if b != tc.before || a != tc.aftr {
			t.Errorf("Pads(in=%d, k=%d, s=%d, %s) = (%d, %d), want (%d, %d)", tc.in, tc.k, tc.s, tc.p, b, a, tc.before, tc.aftr)
		}
		if tc.p == SamePadding {
			if out := (tc.in+b+a-tc.k)/tc.s + 1; out != (tc.in+tc.s-1)/tc.s {
				t.Errorf("SAME output size %d != ceil(%d/%d)", out, tc.in, tc.s)
			}
		}
	}
}

func TestConvForward(t *testing.T) {
	backend := tpu.ForTests()
	const batch, cin, cout = 2, 3, 4
	for _, depthwise := range []bool{false, true} {
		forms := formsFor(depthwise)
		for _, c := range convGrid() {
			padH, padW := c.pads()
			xT := gradcheck.RandomTensor(1, batch, c.h, c.w, cin)
			kd := kernelDims(c, cin, cout, depthwise)
			kT := gradcheck.RandomTensor(2, kd...)
			want, wantDims := refConv(tensors.MustCopyFlatData[float64](xT), tensors.MustCopyFlatData[float64](kT),
				xT.Shape().Dimensions, kd, c.stride, padH, padW, depthwise)
			for _, form := range forms {
				got, err := ExecOnce(backend, func(x, k *Node) *Node {
					return form.fn(x, k, c.stride, padH, padW)
				}, xT, kT)
				if err != nil {
					t.Fatalf("depthwise=%v %s %s: %+v", depthwise, c, form.name, err)
				}
				checkClose(t, fmt.Sprintf("depthwise=%v %s %s", depthwise, c, form.name), got, want, wantDims)
			}
		}
	}
}

// TestConvPublicPadding checks that Conv/Depthwise resolve Padding like Pads.
func TestConvPublicPadding(t *testing.T) {
	backend := tpu.ForTests()
	c := convCase{h: 6, w: 5, k: 3, stride: 2, padding: SamePadding}
	for _, p := range []Padding{SamePadding, SymmetricPadding} {
		c.padding = p
		padH, padW := c.pads()
		for _, depthwise := range []bool{false, true} {
			xT := gradcheck.RandomTensor(3, 1, c.h, c.w, 4)
			kd := kernelDims(c, 4, 2, depthwise)
			kT := gradcheck.RandomTensor(4, kd...)
			want, wantDims := refConv(tensors.MustCopyFlatData[float64](xT), tensors.MustCopyFlatData[float64](kT),
				xT.Shape().Dimensions, kd, c.stride, padH, padW, depthwise)
			got, err := ExecOnce(backend, func(x, k *Node) *Node {
				if depthwise {
					return Depthwise(x, k, c.stride, p)
				}
				return Conv(x, k, c.stride, p)
			}, xT, kT)
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, fmt.Sprintf("%s depthwise=%v", p, depthwise), got, want, wantDims)
		}
	}
}

func TestPointwiseForward(t *testing.T) {
	backend := tpu.ForTests()
	xT := gradcheck.RandomTensor(5, 2, 3, 4, 5)
	kT := gradcheck.RandomTensor(6, 5, 7)
	got, err := ExecOnce(backend, func(x, k *Node) *Node { return Pointwise(x, k) }, xT, kT)
	if err != nil {
		t.Fatal(err)
	}
	x, k := tensors.MustCopyFlatData[float64](xT), tensors.MustCopyFlatData[float64](kT)
	want := make([]float64, 2*3*4*7)
	for r := range 2 * 3 * 4 {
		for o := range 7 {
			for i := range 5 {
				want[r*7+o] += x[r*5+i] * k[i*7+o]
			}
		}
	}
	checkClose(t, "Pointwise", got, want, []int{2, 3, 4, 7})
}

// TestConvBadInputs: wrong shapes come back from Exec as errors naming the problem.
func TestConvBadInputs(t *testing.T) {
	backend := tpu.ForTests()
	x := gradcheck.RandomTensor(1, 1, 5, 5, 3)
	for _, tc := range []struct {
		name, want string
		k          *tensors.Tensor
		fn         func(x, k *Node) *Node
	}{
		{"conv channels", "input channels", gradcheck.RandomTensor(2, 3, 3, 4, 2), func(x, k *Node) *Node { return Conv(x, k, 1, SamePadding) }},
		{"depthwise kernel", "[kh,kw,1,C]", gradcheck.RandomTensor(2, 3, 3, 3, 3), func(x, k *Node) *Node { return Depthwise(x, k, 1, SamePadding) }},
		{"stride", "stride must be", gradcheck.RandomTensor(2, 3, 3, 3, 2), func(x, k *Node) *Node { return Conv(x, k, 0, SamePadding) }},
		{"pads", "pads must be", gradcheck.RandomTensor(2, 3, 3, 3, 2), func(x, k *Node) *Node {
			return ConvWithPads(x, k, 1, [2]int{-1, 0}, [2]int{0, 0})
		}},
		{"kernel too big", "larger than the padded input", gradcheck.RandomTensor(2, 7, 7, 3, 2), func(x, k *Node) *Node {
			return ConvWithPads(x, k, 1, [2]int{0, 0}, [2]int{0, 0})
		}},
		{"pointwise", "input channels", gradcheck.RandomTensor(2, 4, 2), func(x, k *Node) *Node { return Pointwise(x, k) }},
		{"padding", "unknown padding", gradcheck.RandomTensor(2, 3, 3, 3, 2), func(x, k *Node) *Node { return Conv(x, k, 1, Padding(7)) }},
		{"dtype", "same dtype", gradcheck.RandomTensor(2, 3, 3, 3, 2), func(x, k *Node) *Node {
			return Conv(x, ConvertDType(k, dtypes.Float32), 1, SamePadding)
		}},
	} {
		_, err := ExecOnce(backend, tc.fn, x, tc.k)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want an error containing %q, got %v", tc.name, tc.want, err)
		}
	}
}

func checkClose(t *testing.T, name string, got *tensors.Tensor, want []float64, wantDims []int) {
	t.Helper()
	if fmt.Sprint(got.Shape().Dimensions) != fmt.Sprint(wantDims) {
		t.Errorf("%s: shape %v, want %v", name, got.Shape().Dimensions, wantDims)
		return
	}
	flat := tensors.MustCopyFlatData[float64](got)
	for i := range want {
		if math.Abs(flat[i]-want[i]) > 1e-10*(1+math.Abs(want[i])) {
			t.Errorf("%s: element %d = %g, want %g", name, i, flat[i], want[i])
			return
		}
	}
}
