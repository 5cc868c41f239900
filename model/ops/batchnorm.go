package ops

import (
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/pkg/errors"
)

// BatchNormOptions configure BatchNorm.
type BatchNormOptions struct {
	// Momentum of the moving averages: m = Momentum*m + (1-Momentum)*batchStatistic. In [0, 1].
	Momentum float64
	// Epsilon is added to the variance before the reciprocal square root. Must be > 0.
	Epsilon float64
	// Frozen normalises with the moving statistics even in training, leaves them unchanged, and
	// stops the gradients to (and marks as non-trainable) scale and offset: the usual way to
	// fine-tune a pretrained network with small batches.
	Frozen bool
}

// EfficientNetBatchNorm are the options of the Keras/TF EfficientNet reference (momentum 0.99, epsilon 1e-3).
var EfficientNetBatchNorm = BatchNormOptions{Momentum: 0.99, Epsilon: 1e-3}

// BatchNorm normalises x over every axis but the last (channels, NHWC), then scales and shifts
// per channel. It uses these variables in ctx's current scope:
//
//	"scale" [C] (initialised to 1) and "offset" [C] (0): trainable;
//	"mean" [C] (0) and "variance" [C] (1): non-trainable moving averages of the batch statistics.
//
// Variables are float32 (float64 when x is float64), whatever x's dtype. The full-size
// normalisation runs in x's dtype (e.g. bfloat16), but the statistics (batch mean and variance,
// their moving averages, the per-channel factors) are computed in float32: reducing thousands of
// bfloat16 values in bfloat16 loses several percent of accuracy (seen on SimpleGo, which
// accumulates in the input dtype), and on XLA the convert fuses into the reduction.
//
// In training (ctx.IsTraining(g) and not opts.Frozen) it normalises with the batch mean and
// (biased) variance, with the full gradient through them (unlike GoMLX's layers/batchnorm with
// UseBackendInference(false), which puts them behind StopGradient), and updates the moving
// averages (of the mean and the unbiased variance) with Variable.SetValueGraph, which context.Exec (and so train.Trainer) write back after
// the step. Otherwise it normalises with the moving averages.
//
// Calling it twice in one graph in the same scope (weights shared) chains the two moving-average
// updates, as two steps would.
//
// The same composed form runs on every backend. SimpleGo v0.26.0 has no BatchNormForTraining;
// on XLA the compiler fuses these element-wise ops and reductions (its CPU/GPU pipelines expand
// the native op into the same ones anyway), and the native op's path could not be verified here
// (no XLA plugin on the development machine), so one form keeps one gradient, the verified one.
//
// It panics (GoMLX's way for graph building, turned into an error by Exec) with a message
// naming the problem if x has rank < 2, is not a float, or opts are out of range.
func BatchNorm(ctx *context.Context, x *Node, opts BatchNormOptions) *Node {
	if err := opts.validate(); err != nil {
		panic(err)
	}
	if x.Rank() < 2 || !x.DType().IsFloat() {
		panic(errors.Errorf("ops.BatchNorm: x must be a float tensor of rank >= 2 with channels last, got %s", x.Shape()))
	}
	g := x.Graph()
	channels := x.Shape().Dimensions[x.Rank()-1]
	varShape := shapes.Make(statsDType(x.DType()), channels)
	variable := func(name string, init initializers.VariableInitializer, trainable bool) *context.Variable {
		return ctx.WithInitializer(init).VariableWithShape(name, varShape).SetTrainable(trainable)
	}
	training := ctx.IsTraining(g) && !opts.Frozen
	scaleVar := variable("scale", initializers.One, !opts.Frozen)
	offsetVar := variable("offset", initializers.Zero, !opts.Frozen)
	meanVar := variable("mean", initializers.Zero, false)
	varianceVar := variable("variance", initializers.One, false)

	scale, offset := scaleVar.ValueGraph(g), offsetVar.ValueGraph(g)
	if opts.Frozen {
		scale, offset = StopGradient(scale), StopGradient(offset)
	}
	if !training {
		return batchNormInference(x, scale, offset, meanVar.ValueGraph(g), varianceVar.ValueGraph(g), opts.Epsilon)
	}

	y, batchMean, batchVariance := batchNormTraining(x, scale, offset, opts.Epsilon)
	// The moving variance estimates the population's, so it takes the unbiased batch variance
	// (n/(n-1) times the biased one that normalises the batch), as PyTorch and TF's fused batch norm
	// do: the statistics of torchvision's and timm's weights were accumulated that way.
	if n := x.Shape().Size() / channels; n > 1 {
		batchVariance = MulScalar(batchVariance, float64(n)/float64(n-1))
	}
	momentum := opts.Momentum
	update := func(v *context.Variable, batch *Node) {
		batch = StopGradient(batch)
		v.SetValueGraph(Add(MulScalar(v.ValueGraph(g), momentum), MulScalar(batch, 1-momentum)))
	}
	update(meanVar, batchMean)
	update(varianceVar, batchVariance)
	return y
}

func (o BatchNormOptions) validate() error {
	if !(o.Momentum >= 0 && o.Momentum <= 1) {
		return errors.Errorf("ops.BatchNorm: Momentum must be in [0, 1], got %g", o.Momentum)
	}
	if !(o.Epsilon > 0) {
		return errors.Errorf("ops.BatchNorm: Epsilon must be > 0, got %g (EfficientNet uses 1e-3)", o.Epsilon)
	}
	return nil
}

// statsDType is the dtype of BatchNorm's variables for activations of dtype dt.
func statsDType(dt dtypes.DType) dtypes.DType {
	if dt == dtypes.Float64 {
		return dtypes.Float64
	}
	return dtypes.Float32
}

// batchNormTraining normalises x ([..., C]) with its own per-channel mean and biased variance.
// scale and offset are [C] in statsDType(x); so are the returned mean and variance, and all the
// per-channel arithmetic. Plain differentiable ops, so the gradient flows through the statistics.
func batchNormTraining(x, scale, offset *Node, epsilon float64) (y, mean, variance *Node) {
	axes := axisRun(0, x.Rank()-1)
	xs := ConvertDType(x, statsDType(x.DType()))
	meanK := ReduceAndKeep(xs, ReduceMean, axes...) // [1, ..., 1, C]
	centred := Sub(xs, meanK)
	varianceK := ReduceAndKeep(Square(centred), ReduceMean, axes...)
	y = normalise(ConvertDType(centred, x.DType()), varianceK, scale, offset, epsilon)
	channels := x.Shape().Dimensions[x.Rank()-1]
	return y, Reshape(meanK, channels), Reshape(varianceK, channels)
}

// batchNormInference normalises x ([..., C]) with given per-channel mean and variance; these and
// scale and offset are [C] in statsDType(x).
func batchNormInference(x, scale, offset, mean, variance *Node, epsilon float64) *Node {
	rank := x.Rank()
	centred := Sub(x, ConvertDType(keepDims(mean, rank), x.DType()))
	return normalise(centred, keepDims(variance, rank), scale, offset, epsilon)
}

// normalise returns centred / sqrt(variance + epsilon) * scale + offset in centred's dtype. The
// per-channel factor is folded first (in the statistics' dtype), so the full-size tensor sees one
// Mul and one Add.
func normalise(centred, varianceK, scale, offset *Node, epsilon float64) *Node {
	rank, dt := centred.Rank(), centred.DType()
	factor := Mul(Rsqrt(AddScalar(varianceK, epsilon)), keepDims(scale, rank))
	return Add(Mul(centred, ConvertDType(factor, dt)), ConvertDType(keepDims(offset, rank), dt))
}

// keepDims reshapes a per-channel [C] vector to [1, ..., 1, C] of the given rank, for broadcasting.
func keepDims(v *Node, rank int) *Node {
	dims := make([]int, rank)
	for i := range dims {
		dims[i] = 1
	}
	dims[rank-1] = v.Shape().Dimensions[0]
	return Reshape(v, dims...)
}
