package ops

import (
	"reflect"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

// Why override GoMLX v0.26.0's ConvGeneral gradient:
//   - its input gradient flips the kernel with Reverse, which SimpleGo lacks;
//   - for grouped convolutions (depthwise) it splits into one convolution per group, ~6*C ops per
//     depthwise layer on every backend, XLA included: thousands of ops for an EfficientNet.
//
// This one builds a constant number of ops: the input gradient is one (grouped) convolution of the
// output gradient with the flipped, regrouped kernel; the kernel gradient is one convolution of the
// input with the output gradient, with BatchGroupCount = groups (what JAX does). The stock VJP
// (kept in stockVJP) still serves what this one does not handle: input dilations (gradients of
// gradients, which GoMLX's VJP rejects with its own message) and batch-grouped convolutions
// (only built by convKernelGrad on XLA, so only reached by second-order gradients there).
func init() {
	stockVJP[NodeTypeConvGeneral] = VJPRegistration[NodeTypeConvGeneral]
	VJPRegistration[NodeTypeConvGeneral] = convGeneralVJP
}

// convParams are the static parameters of a ConvGeneral node.
type convParams struct {
	axes                               backends.ConvolveAxesConfig
	strides                            []int
	paddings                           [][2]int
	inputDilations, kernelDilations    []int
	channelGroupCount, batchGroupCount int
}

// readConvParams recovers a ConvGeneral node's parameters by reflection (see nodeIntsParam for
// why). If GoMLX's layout ever changes it returns an error naming what it could not read, and
// convGeneralVJP panics with it (Exec returns it as an error; TestReadConvParams fails first):
// falling back to the stock VJP silently would hide the change behind a per-channel op blow-up
// on XLA and a missing-Reverse failure on SimpleGo.
func readConvParams(node *Node) (p convParams, err error) {
	defer func() {
		if r := recover(); r != nil { // A field of a changed kind: reflect panics.
			err = errors.Errorf("node %s: reading its parameters: %v", node.Type(), r)
		}
	}()
	ints, err := nodeIntsParams(node, "strides", "inputDilations", "kernelDilations")
	if err != nil {
		return p, err
	}
	p.strides, p.inputDilations, p.kernelDilations = ints[0], ints[1], ints[2]
	if p.paddings, err = nodePairsParam(node, "paddings"); err != nil {
		return p, err
	}
	if p.channelGroupCount, err = nodeIntParam(node, "channelGroupCount"); err != nil {
		return p, err
	}
	if p.batchGroupCount, err = nodeIntParam(node, "batchGroupCount"); err != nil {
		return p, err
	}
	a, err := nodeField(node, "axes")
	if err != nil {
		return p, err
	}
	if a.Type() != reflect.TypeOf(backends.ConvolveAxesConfig{}) {
		return p, errors.Errorf("node %s parameter \"axes\" is a %s, not a backends.ConvolveAxesConfig", node.Type(), a.Type())
	}
	intsOf := func(f reflect.Value) []int {
		out := make([]int, f.Len())
		for i := range out {
			out[i] = int(f.Index(i).Int())
		}
		return out
	}
	// The struct's fields are exported, but a value read through an unexported field cannot be
	// converted with Interface(): copy them one by one.
	p.axes = backends.ConvolveAxesConfig{
		InputBatch:           int(a.FieldByName("InputBatch").Int()),
		InputChannels:        int(a.FieldByName("InputChannels").Int()),
		InputSpatial:         intsOf(a.FieldByName("InputSpatial")),
		KernelInputChannels:  int(a.FieldByName("KernelInputChannels").Int()),
		KernelOutputChannels: int(a.FieldByName("KernelOutputChannels").Int()),
		KernelSpatial:        intsOf(a.FieldByName("KernelSpatial")),
		OutputBatch:          int(a.FieldByName("OutputBatch").Int()),
		OutputChannels:       int(a.FieldByName("OutputChannels").Int()),
		OutputSpatial:        intsOf(a.FieldByName("OutputSpatial")),
	}
	return p, nil
}

// normalize fills the optional parameters with their defaults.
func (p *convParams) normalize() {
	n := len(p.axes.InputSpatial)
	fill := func(s []int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = 1
			if i < len(s) && s[i] > 0 {
				out[i] = s[i]
			}
		}
		return out
	}
	p.strides, p.inputDilations, p.kernelDilations = fill(p.strides), fill(p.inputDilations), fill(p.kernelDilations)
	if len(p.paddings) != n {
		p.paddings = make([][2]int, n)
	}
	p.channelGroupCount = max(p.channelGroupCount, 1)
	p.batchGroupCount = max(p.batchGroupCount, 1)
}

func convGeneralVJP(node *Node, vjps []*Node, outputShape shapes.Shape) []*Node {
	p, err := readConvParams(node)
	if err != nil {
		panic(errors.WithMessage(err, "ops: ConvGeneral gradient needs the convolution parameters"))
	}
	p.normalize()
	for _, d := range p.inputDilations {
		if d != 1 {
			return stockVJP[NodeTypeConvGeneral](node, vjps, outputShape)
		}
	}
	if p.batchGroupCount != 1 {
		return stockVJP[NodeTypeConvGeneral](node, vjps, outputShape)
	}
	x, kernel, v := node.Inputs()[0], node.Inputs()[1], vjps[0]
	return []*Node{convInputGrad(x, kernel, v, &p), convKernelGrad(x, kernel, v, &p)}
}

// convInputGrad: dx = conv(v dilated by the strides, flipped kernel with input/output channels
// swapped), one spatial axis at a time: with keff=(k-1)*dilation+1 the padding is
// (keff-1-padBefore, in+padBefore-(out-1)*stride-1); a negative pad becomes a crop.
func convInputGrad(x, kernel, v *Node, p *convParams) *Node {
	a := p.axes
	k := flipSpatial(kernel, a.KernelSpatial)
	if g := p.channelGroupCount; g > 1 {
		k = regroupKernel(k, a.KernelInputChannels, a.KernelOutputChannels, g)
	}
	rev := backends.ConvolveAxesConfig{
		InputBatch: a.OutputBatch, InputSpatial: a.OutputSpatial, InputChannels: a.OutputChannels,
		KernelSpatial: a.KernelSpatial, KernelInputChannels: a.KernelOutputChannels, KernelOutputChannels: a.KernelInputChannels,
		OutputBatch: a.InputBatch, OutputSpatial: a.InputSpatial, OutputChannels: a.InputChannels,
	}
	n := len(a.InputSpatial)
	pads := make([][2]int, n)
	crops := make([][2]int, n)
	for d := range n {
		in := x.Shape().Dimensions[a.InputSpatial[d]]
		out := v.Shape().Dimensions[a.OutputSpatial[d]]
		keff := (kernel.Shape().Dimensions[a.KernelSpatial[d]]-1)*p.kernelDilations[d] + 1
		pb := p.paddings[d][0]
		pads[d], crops[d] = splitNegative(keff-1-pb, in+pb-(out-1)*p.strides[d]-1)
	}
	ones := onesInts(n)
	dx := ConvGeneral(v, k, rev, ones, pads, p.strides, p.kernelDilations, p.channelGroupCount, 1)
	return crop(dx, a.InputSpatial, crops)
}

// testBatchGroupKernelGrad makes convKernelGrad build the XLA (BatchGroupCount) form on SimpleGo
// too, for the tests that check it without XLA: TestConvVJPGroupedNCHW runs it (SimpleGo's
// BatchGroupCount indexing, wrong in general, happens to match XLA's when the input-channel axis
// of x and of the kernel coincide and Cout = groups^2), and TestDepthwiseKernelGradXLAForm
// evaluates the depthwise NHWC graph with a plain-Go convolution of XLA's semantics.
var testBatchGroupKernelGrad = false

// convKernelGrad: dk[t] = sum_o x_padded[o*stride + t*dilation] * v[o]: a convolution of x (batch
// and channel roles swapped) with v as the kernel, strides and dilations swapped. For grouped
// convolutions BatchGroupCount pairs each output-channel group with its input-channel group.
func convKernelGrad(x, kernel, v *Node, p *convParams) *Node {
	a := p.axes
	rev := backends.ConvolveAxesConfig{
		InputBatch: a.InputChannels, InputSpatial: a.InputSpatial, InputChannels: a.InputBatch,
		KernelSpatial: a.OutputSpatial, KernelInputChannels: a.OutputBatch, KernelOutputChannels: a.OutputChannels,
		OutputBatch: a.KernelInputChannels, OutputSpatial: a.KernelSpatial, OutputChannels: a.KernelOutputChannels,
	}
	n := len(a.InputSpatial)
	pads := make([][2]int, n)
	crops := make([][2]int, n)
	for d := range n {
		pb := p.paddings[d][0]
		if pb < 0 {
			// A negative padding drops input positions: drop them from x (cropping the result
			// instead would shift by taps, not positions, when the kernel is dilated).
			x = SliceAxis(x, a.InputSpatial[d], AxisRange(-pb))
			pb = 0
		}
		in := x.Shape().Dimensions[a.InputSpatial[d]]
		out := v.Shape().Dimensions[a.OutputSpatial[d]]
		k := kernel.Shape().Dimensions[a.KernelSpatial[d]]
		pads[d], crops[d] = splitNegative(pb, (k-1)*p.kernelDilations[d]+(out-1)*p.strides[d]+1-in-pb)
		// With a cropped (clipped to 0) end pad the result is longer than k; keep the first k taps.
		if crops[d][1] > 0 {
			full := (in+pads[d][0]+pads[d][1]-(out-1)*p.strides[d]-1)/p.kernelDilations[d] + 1
			crops[d][1] = full - k
		}
	}
	g := p.channelGroupCount
	if g > 1 && usesLoopFreeForms(x.Graph().Backend()) && !testBatchGroupKernelGrad {
		// SimpleGo's BatchGroupCount convolution returns wrong numbers: compute all
		// (input channel, output channel) pairs and keep each group's diagonal block.
		full := ConvGeneral(x, v, rev, p.kernelDilations, pads, nil, p.strides, 1, 1)
		return crop(groupDiagonal(full, a.KernelInputChannels, a.KernelOutputChannels, g), a.KernelSpatial, crops)
	}
	dk := ConvGeneral(x, v, rev, p.kernelDilations, pads, nil, p.strides, 1, g)
	return crop(dk, a.KernelSpatial, crops)
}

// groupDiagonal takes full [.., Cin, .., Cout] kernel gradients of all channel pairs and returns
// the grouped kernel [.., Cin/g, .., Cout]: element (i, o) of group o/(Cout/g) comes from input
// channel (o/(Cout/g))*(Cin/g)+i. Done with a one-hot mask and a ReduceSum (constant op count).
func groupDiagonal(full *Node, inAxis, outAxis, g int) *Node {
	dims := full.Shape().Dimensions
	cin, cout := dims[inAxis], dims[outAxis]
	// Split both channel axes into (group, within-group); mask keeps group_in == group_out.
	var split []int
	var maskDims []int
	var gInAxis, gOutAxis int
	for ax, d := range dims {
		switch ax {
		case inAxis:
			gInAxis = len(split)
			split = append(split, g, cin/g)
			maskDims = append(maskDims, g, 1)
		case outAxis:
			gOutAxis = len(split)
			split = append(split, g, cout/g)
			maskDims = append(maskDims, g, 1)
		default:
			split = append(split, d)
			maskDims = append(maskDims, 1)
		}
	}
	s := Reshape(full, split...)
	groupShape := shapes.Make(s.DType(), maskDims...)
	mask := ConvertDType(Equal(Iota(s.Graph(), groupShape, gInAxis), Iota(s.Graph(), groupShape, gOutAxis)), s.DType())
	reduced := ReduceSum(Mul(s, mask), gInAxis) // Sum over the input group: only the matching one survives.
	outDims := append([]int(nil), dims...)
	outDims[inAxis] = cin / g
	return Reshape(reduced, outDims...)
}

// regroupKernel rearranges a grouped kernel [.., I/g (inAxis), .., O (outAxis)] for the transposed
// convolution: element (i, group*(O/g)+o) moves to (group*(I/g)+i, o), so that inAxis becomes
// I long and outAxis O/g long.
func regroupKernel(k *Node, inAxis, outAxis, g int) *Node {
	dims := k.Shape().Dimensions
	const groupLabel = -1
	var split, labels []int
	for ax, d := range dims {
		if ax == outAxis {
			split = append(split, g, d/g)
			labels = append(labels, groupLabel, ax)
		} else {
			split = append(split, d)
			labels = append(labels, ax)
		}
	}
	k = Reshape(k, split...)
	perm := make([]int, 0, len(labels))
	indexOf := func(label int) int {
		for i, l := range labels {
			if l == label {
				return i
			}
		}
		return -1
	}
	for _, l := range labels {
		if l == groupLabel {
			continue
		}
		if l == inAxis {
			perm = append(perm, indexOf(groupLabel))
		}
		perm = append(perm, indexOf(l))
	}
	k = TransposeAllAxes(k, perm...)
	outDims := append([]int(nil), dims...)
	outDims[inAxis] *= g
	outDims[outAxis] /= g
	return Reshape(k, outDims...)
}

// flipSpatial reverses the given axes: with Reverse where the backend has it, else (SimpleGo)
// by concatenating the single-element slices in reverse order (kernel axes are short).
func flipSpatial(k *Node, axes []int) *Node {
	if backendHas(k, backends.OpTypeReverse) {
		return Reverse(k, axes...)
	}
	for _, ax := range axes {
		n := k.Shape().Dimensions[ax]
		if n == 1 {
			continue
		}
		parts := make([]*Node, n)
		for i := range n {
			parts[i] = SliceAxis(k, ax, AxisRange(n-1-i, n-i))
		}
		k = Concatenate(parts, ax)
	}
	return k
}

// splitNegative turns (before, after) paddings into non-negative paddings plus crops.
func splitNegative(before, after int) (pad, crop [2]int) {
	if before < 0 {
		crop[0], before = -before, 0
	}
	if after < 0 {
		crop[1], after = -after, 0
	}
	return [2]int{before, after}, crop
}

// crop removes crops[d] = (start, end) elements from the given axes.
func crop(x *Node, axes []int, crops [][2]int) *Node {
	for d, ax := range axes {
		if c := crops[d]; c[0] > 0 || c[1] > 0 {
			x = SliceAxis(x, ax, AxisRange(c[0], x.Shape().Dimensions[ax]-c[1]))
		}
	}
	return x
}

func onesInts(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	return out
}
