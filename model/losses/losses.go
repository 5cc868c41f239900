// Package losses holds the training losses of the SupCon trainer, written to be read against
// the equations they implement:
//
//   - SupCon: Khosla et al., "Supervised Contrastive Learning" (2020), eq. 2 (L^sup_out), with the
//     conventions of the authors' reference code (HobbitLong/SupContrast, losses.py).
//   - NPairs: the loss of the Keras "supervised contrastive learning" example the project follows,
//     tfa.losses.npairs_loss on L2-normalised features divided by a temperature.
//   - CrossEntropy: sparse softmax cross-entropy with Keras-style label smoothing, for the
//     classifier stage.
//
// All losses take float32 or float64 nodes and build the label masks in the graph (Equal, Iota).
// Importing model/ops gives them gradients that run (fast) on every backend. Invalid shapes, dtypes or
// options panic with an error naming the problem while the graph is built; graph.Exec recovers
// those panics and returns them as errors.
package losses

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"

	// For its VJPs: DotGeneral's gradient as DotGenerals instead of GoMLX's broadcast product
	// (an [anchors, samples, dim] tensor per similarity matrix), Slice's without Pad.
	_ "github.com/supcon-go/supcon/model/ops"
)

// DefaultTemperature is the τ of the article (npairs on features divided by 0.1). SupCon uses it
// too by default, instead of the paper's 0.07, so that switching between the two losses changes
// one thing only; set SupConOptions.Temperature to 0.07 to follow the paper.
const DefaultTemperature = 0.1

// l2Epsilon is the floor of the squared norm in Normalize, as in tf.math.l2_normalize: a zero
// vector normalises to zero (and has a finite gradient) instead of 0/0 = NaN.
const l2Epsilon = 1e-12

// Normalize returns x / ||x|| along the last axis, with ||x||² floored at 1e-12.
func Normalize(x *Node) *Node {
	sumSquares := ReduceAndKeep(Square(x), ReduceSum, -1)
	return Div(x, Sqrt(MaxScalar(sumSquares, l2Epsilon)))
}

// ContrastMode selects SupCon's anchors.
type ContrastMode int

const (
	// ContrastAll uses every view of every image as an anchor (the paper's setting).
	ContrastAll ContrastMode = iota
	// ContrastOne uses only view 0 of each image as anchor; all views remain contrasted.
	ContrastOne
)

// String returns "all" or "one", the names of the reference's contrast_mode.
func (m ContrastMode) String() string {
	switch m {
	case ContrastAll:
		return "all"
	case ContrastOne:
		return "one"
	}
	return fmt.Sprintf("ContrastMode(%d)", int(m))
}

// ParseContrastMode reads "all" or "one" (e.g. from a flag).
func ParseContrastMode(s string) (ContrastMode, error) {
	switch s {
	case "all":
		return ContrastAll, nil
	case "one":
		return ContrastOne, nil
	}
	return 0, errors.Errorf("losses: unknown contrast mode %q, want \"all\" or \"one\"", s)
}

// SupConOptions configure SupCon. The zero value is the default.
type SupConOptions struct {
	// Temperature τ dividing the similarities; 0 means DefaultTemperature.
	Temperature float64
	// BaseTemperature: the loss is multiplied by Temperature/BaseTemperature, as the reference
	// code does (with its defaults, 0.07/0.07 = 1). 0 means equal to Temperature (factor 1).
	BaseTemperature float64
	// ContrastMode: ContrastAll (default) or ContrastOne.
	ContrastMode ContrastMode
}

// SupCon returns the supervised contrastive loss L^sup_out (Khosla et al. 2020, eq. 2):
//
//	L = mean over anchors i with P(i) ≠ ∅ of  -(τ/τ_base) · 1/|P(i)| Σ_{p∈P(i)} log( exp(z_i·z_p/τ) / Σ_{a∈A(i)} exp(z_i·z_a/τ) )
//
// features is [B, V, D]: V augmented views of B images (L2-normalised here, giving the z's).
// The samples are the B·V views; A(i) is every sample but i itself; P(i) is the samples of A(i)
// with i's label. labels is [B] (or [B, 1]) of an integer dtype, or nil for SimCLR's unsupervised
// loss, where P(i) is the other views of i's image.
//
// Anchors without positives (a class seen once, with V = 1) have no term in eq. 2: they are left
// out of the mean, which differs from the reference code (it counts them as zeros). A batch
// where no anchor has a positive has loss 0 and gradient 0.
func SupCon(features, labels *Node, opts SupConOptions) *Node {
	checkFloatInput("losses.SupCon", "features", "[batch, views, dim]", features)
	temperature, scale := opts.resolve()
	g, dtype := features.Graph(), features.DType()
	b, v, d := features.Shape().Dimensions[0], features.Shape().Dimensions[1], features.Shape().Dimensions[2]
	n := b * v

	// The samples, view-major as the reference's torch.cat(torch.unbind(features, 1)): row j·B+k
	// is view j of image k.
	normalized := Normalize(features)
	z := Reshape(TransposeAllAxes(normalized, 1, 0, 2), n, d)

	// The class of each image; for SimCLR it is the image itself.
	imageClass := Iota(g, shapes.Make(dtypes.Int32, b), 0)
	if labels != nil {
		imageClass = labelsVector("losses.SupCon", labels, b)
	}
	class := Reshape(BroadcastToDims(InsertAxes(imageClass, 0), v, b), n)

	anchors, anchorClass := z, class
	switch opts.ContrastMode {
	case ContrastAll:
	case ContrastOne:
		// View 0 of each image, i.e. the first B rows of z.
		anchors = Reshape(SliceAxis(normalized, 1, AxisElem(0)), b, d)
		anchorClass = imageClass
	default:
		panic(errors.Errorf("losses.SupCon: unknown contrast mode %s", opts.ContrastMode))
	}
	numAnchors := anchors.Shape().Dimensions[0]

	// Anchor i is row i of z in both modes, so its own column is the diagonal.
	logits := similarities(anchors, z, temperature) // [anchors, samples]: z_i·z_a/τ.
	pairShape := shapes.Make(dtypes.Int32, numAnchors, n)
	others := NotEqual(Iota(g, pairShape, 0), Iota(g, pairShape, 1)) // a ∈ A(i)
	positives := Mul(
		ConvertDType(Equal(InsertAxes(anchorClass, 1), InsertAxes(class, 0)), dtype),
		ConvertDType(others, dtype)) // p ∈ P(i)

	logProb := logSoftmaxOver(logits, others)
	numPositives := ReduceSum(positives, -1) // |P(i)|
	meanLogProbPositives := Div(ReduceSum(Mul(positives, logProb), -1), MaxScalar(numPositives, 1))
	lossPerAnchor := MulScalar(meanLogProbPositives, -scale) // 0 where P(i) = ∅.
	anchorsWithPositives := ReduceAllSum(MinScalar(numPositives, 1))
	return Div(ReduceAllSum(lossPerAnchor), MaxScalar(anchorsWithPositives, 1))
}

// resolve applies the defaults and returns τ and the loss factor τ/τ_base.
func (o SupConOptions) resolve() (temperature, scale float64) {
	temperature, base := o.Temperature, o.BaseTemperature
	if temperature == 0 {
		temperature = DefaultTemperature
	}
	if base == 0 {
		base = temperature
	}
	checkTemperature("losses.SupCon: Temperature", temperature)
	checkTemperature("losses.SupCon: BaseTemperature", base)
	return temperature, temperature / base
}

// NPairs returns tfa.losses.npairs_loss(labels, z zᵀ/τ) for the L2-normalised rows z of
// features [B, D], τ = temperature (the article uses DefaultTemperature):
//
//	L = mean_i  -Σ_j y_ij log softmax_j(z_i·z_j/τ),   y_ij = [label_i = label_j] / #{k : label_k = label_i}
//
// Unlike SupCon, the diagonal (j = i) is both a target and a term of the softmax.
// labels is [B] (or [B, 1]) of an integer dtype.
func NPairs(features, labels *Node, temperature float64) *Node {
	checkFloatInput("losses.NPairs", "features", "[batch, dim]", features)
	checkTemperature("losses.NPairs: temperature", temperature)
	y := labelsVector("losses.NPairs", labels, features.Shape().Dimensions[0])
	z := Normalize(features)
	sameLabel := ConvertDType(Equal(InsertAxes(y, 1), InsertAxes(y, 0)), features.DType())
	targets := Div(sameLabel, ReduceAndKeep(sameLabel, ReduceSum, -1)) // rows sum to 1 (diagonal ≥ 1).
	return softmaxCrossEntropy(similarities(z, z, temperature), targets)
}

// CrossEntropy returns the mean over the batch of the softmax cross-entropy of logits [B, K]
// against sparse labels [B] (or [B, 1]) in [0, K), with Keras' label smoothing: the target is
// onehot·(1-ls) + ls/K. Labels outside [0, K) give an all-(ls/K) target: check them upstream.
func CrossEntropy(logits, labels *Node, labelSmoothing float64) *Node {
	checkFloatInput("losses.CrossEntropy", "logits", "[batch, classes]", logits)
	if !(labelSmoothing >= 0 && labelSmoothing <= 1) {
		panic(errors.Errorf("losses.CrossEntropy: label smoothing %g is outside [0, 1]", labelSmoothing))
	}
	numClasses := logits.Shape().Dimensions[1]
	y := labelsVector("losses.CrossEntropy", labels, logits.Shape().Dimensions[0])
	targets := OneHot(y, numClasses, logits.DType())
	if labelSmoothing > 0 {
		targets = AddScalar(MulScalar(targets, 1-labelSmoothing), labelSmoothing/float64(numClasses))
	}
	return softmaxCrossEntropy(logits, targets)
}

// similarities returns a·bᵀ/τ for row vectors a [M, D] and b [N, D].
func similarities(a, b *Node, temperature float64) *Node {
	return DivScalar(DotGeneral(a, []int{1}, nil, b, []int{1}, nil), temperature)
}

// softmaxCrossEntropy is mean_i -Σ_j targets_ij log softmax_j(logits_i), as
// tf.nn.softmax_cross_entropy_with_logits followed by reduce_mean.
func softmaxCrossEntropy(logits, targets *Node) *Node {
	return ReduceAllMean(Neg(ReduceSum(Mul(targets, LogSoftmax(logits, -1)), -1)))
}

// logSoftmaxOver returns log( exp(x_ij) / Σ_{k: in_ik} exp(x_ik) ) for every entry of x [M, N],
// the sum running over the entries where the boolean mask `in` is true. It is finite everywhere,
// including outside the mask and on rows where the mask is empty, so that masked products and
// their gradients never meet inf·0.
func logSoftmaxOver(x, in *Node) *Node {
	// Shift by the largest term of the sum (as the reference, under StopGradient: the result does
	// not depend on it). Entries outside the sum are replaced by the row minimum so they never win;
	// an empty row is shifted by its minimum.
	rowMin := BroadcastToShape(ReduceAndKeep(x, ReduceMin, -1), x.Shape())
	shifted := Sub(x, StopGradient(ReduceAndKeep(Where(in, x, rowMin), ReduceMax, -1)))
	// The largest term is now exp(0) = 1, so the sum cannot underflow to log(0). The exponent is
	// masked too: an excluded entry (the anchor itself, up to exp(2/τ)) could overflow to inf, and
	// inf·0 = NaN in the gradient.
	inF := ConvertDType(in, x.DType())
	sumExp := ReduceAndKeep(Mul(Exp(Mul(shifted, inF)), inF), ReduceSum, -1)
	// An empty row (a lone sample) gets log(0 + 1) = 0 instead of log(0); its values are unused.
	emptyRow := OneMinus(ReduceAndKeep(inF, ReduceMax, -1))
	return Sub(shifted, Log(Add(sumExp, emptyRow)))
}

// checkFloatInput panics unless x is a non-empty float32 or float64 tensor with the rank of
// layout (e.g. "[batch, dim]"). Half precisions are refused: the 1e-12 norm floor underflows there.
func checkFloatInput(caller, what, layout string, x *Node) {
	rank := strings.Count(layout, ",") + 1
	if x == nil || x.Rank() != rank || (x.DType() != dtypes.Float32 && x.DType() != dtypes.Float64) || x.Shape().Size() == 0 {
		shape := "nil"
		if x != nil {
			shape = x.Shape().String()
		}
		panic(errors.Errorf("%s: %s must be a non-empty float32 or float64 %s tensor, got %s", caller, what, layout, shape))
	}
}

// labelsVector validates labels ([batch] or [batch, 1], integer) and returns them as [batch].
func labelsVector(caller string, labels *Node, batch int) *Node {
	if labels == nil {
		panic(errors.Errorf("%s: labels are nil", caller))
	}
	dims := labels.Shape().Dimensions
	ok := labels.DType().IsInt() &&
		((len(dims) == 1 && dims[0] == batch) || (len(dims) == 2 && dims[0] == batch && dims[1] == 1))
	if !ok {
		panic(errors.Errorf("%s: labels must be an integer [%d] tensor (one per batch element), got %s",
			caller, batch, labels.Shape()))
	}
	return Reshape(labels, batch)
}

func checkTemperature(what string, t float64) {
	if !(t > 0) || math.IsInf(t, 1) {
		panic(errors.Errorf("%s must be a positive finite number, got %g", what, t))
	}
}
