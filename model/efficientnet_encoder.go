package model

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/pkg/errors"
	"github.com/supcon-go/supcon/model/ops"
)

// EncoderScope is the context scope of the encoder's variables.
const EncoderScope = "encoder"

// Encoder builds EfficientNet on images [B, H, W, 3] (NHWC, normalised as the pretrained weights
// expect) and returns the globally average-pooled features [B, cfg.HeadChannels()] in cfg.DType.
//
// Variables, under ctx.In("encoder") (the weights loader relies on these names):
//
//	stem/conv/weights [3,3,3,C]            stem/bn/{scale,offset,mean,variance}
//	stage{s}/block{b}/...                  s = 1..7, b = 0..repeats-1 (torchvision's features.{s}.{b})
//	    expand/conv/weights [Cin,Cexp]     expand/bn/*      (only when the expand ratio is not 1)
//	    depthwise/conv/weights [k,k,1,Cexp] depthwise/bn/*
//	    se/reduce/{weights [Cexp,Csq], biases [Csq]}, se/expand/{weights [Csq,Cexp], biases [Cexp]}
//	    project/conv/weights [Cexp,Cout]   project/bn/*
//	head/conv/weights [Cin,Chead]          head/bn/*
//
// Variables that no checkpoint fills start from the context's initializer (GoMLX's default:
// He-normal over fan-in, zero biases) and batch norm's own (scale 1, offset 0, statistics 0 and 1).
// Keras and torchvision draw convolutions He-normal over fan-out instead; the recipe starts from
// ImageNet weights, and from scratch the batch norm after every convolution absorbs the difference
// in scale.
//
// Training behaviour follows ctx.IsTraining (batch statistics, drop-connect, dropout) unless
// cfg.Frozen. It panics (GoMLX's convention for graph building; context.Exec turns it into an
// error) on an invalid configuration or images of the wrong rank or channel count.
func Encoder(ctx *context.Context, cfg Config, images *Node) *Node {
	return buildEncoder(ctx, cfg, images, nil)
}

// observer is told the output of each part of the encoder ("stem", "stage1".."stage7", "head",
// "pool"), for Summary.
type observer func(part string, output *Node)

func buildEncoder(ctx *context.Context, cfg Config, images *Node, observe observer) *Node {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if images.Rank() != 4 || images.Shape().Dim(-1) != 3 || !images.DType().IsFloat() {
		panic(errors.Errorf("EfficientNet encoder: images must be float [batch, height, width, 3] (NHWC), got %s", images.Shape()))
	}
	if observe == nil {
		observe = func(string, *Node) {}
	}
	ctx = ctx.In(EncoderScope)
	g := images.Graph()
	l := layerBuilder{cfg: cfg, training: ctx.IsTraining(g) && !cfg.Frozen}

	x := images
	if x.DType() != cfg.DType {
		x = ConvertDType(x, cfg.DType)
	}
	x = swish(l.convBN(ctx.In("stem"), x, 3, 2, cfg.StemChannels()))
	observe("stem", x)

	specs := cfg.blocks()
	for i, spec := range specs {
		x = l.mbConv(ctx.Inf("stage%d", spec.stage).Inf("block%d", spec.index), x, spec)
		if i == len(specs)-1 || specs[i+1].stage != spec.stage {
			observe(fmt.Sprintf("stage%d", spec.stage), x)
		}
	}

	x = swish(l.convBN(ctx.In("head"), x, 1, 1, cfg.HeadChannels()))
	observe("head", x)
	x = spatialMean(x)
	if l.training && cfg.Dropout > 0 {
		x = dropout(ctx, x, cfg.Dropout)
	}
	observe("pool", x)

	if cfg.Frozen {
		// Stage 2 of SupCon trains only the classifier: cut the gradient here.
		x = StopGradient(x)
	}
	// A frozen encoder's variables are also non-trainable, so the optimizer neither computes nor
	// applies (e.g. weight-decay) updates to them; rebuilding unfrozen in the same context makes
	// them trainable again (as ops.BatchNorm does for scale and offset). Running statistics never are.
	for v := range ctx.IterVariablesInScope() {
		v.SetTrainable(!cfg.Frozen && !isBNStat(v.Name()))
	}
	return x
}

// isBNStat tells the batch-norm running statistics (ops.BatchNorm's "mean" and "variance") from
// the trained variables.
func isBNStat(name string) bool { return name == "mean" || name == "variance" }

// layerBuilder carries what every layer of one encoder needs.
type layerBuilder struct {
	cfg      Config
	training bool // batch statistics, drop-connect and dropout; false when Frozen.
}

// weights returns the variable `name` of ctx in the compute dtype (see castVariable).
func (l layerBuilder) weights(ctx *context.Context, g *Graph, name string, dims ...int) *Node {
	return castVariable(ctx, g, name, l.cfg.DType, dims...)
}

// castVariable returns the variable `name` of ctx, created with the given dimensions as float32
// (float64 when computing in float64), cast to the compute dtype: bfloat16 compute keeps float32
// master weights, so optimizer updates are not lost to bfloat16's 8-bit mantissa.
func castVariable(ctx *context.Context, g *Graph, name string, compute dtypes.DType, dims ...int) *Node {
	varDType := dtypes.Float32
	if compute == dtypes.Float64 {
		varDType = dtypes.Float64
	}
	w := ctx.VariableWithShape(name, shapes.Make(varDType, dims...)).ValueGraph(g)
	if w.DType() != compute {
		w = ConvertDType(w, compute)
	}
	return w
}

// convBN is a bias-free convolution (scope "conv") followed by batch norm (scope "bn"). 1x1
// stride-1 convolutions use a [Cin, Cout] kernel and ops.Pointwise.
func (l layerBuilder) convBN(ctx *context.Context, x *Node, kernel, stride, out int) *Node {
	in := x.Shape().Dim(-1)
	if kernel == 1 && stride == 1 {
		x = ops.Pointwise(x, l.weights(ctx.In("conv"), x.Graph(), "weights", in, out))
	} else {
		x = ops.Conv(x, l.weights(ctx.In("conv"), x.Graph(), "weights", kernel, kernel, in, out), stride, l.cfg.Padding)
	}
	return l.batchNorm(ctx.In("bn"), x)
}

func (l layerBuilder) batchNorm(ctx *context.Context, x *Node) *Node {
	return ops.BatchNorm(ctx, x, ops.BatchNormOptions{
		Momentum: l.cfg.BatchNormMomentum, Epsilon: l.cfg.BatchNormEpsilon, Frozen: l.cfg.Frozen,
	})
}

// mbConv is the inverted-residual block: 1x1 expansion, depthwise convolution, squeeze-excitation,
// 1x1 projection, and, when shapes allow, stochastic depth plus the identity shortcut.
func (l layerBuilder) mbConv(ctx *context.Context, x *Node, spec blockSpec) *Node {
	input := x
	if spec.expand != 1 {
		x = swish(l.convBN(ctx.In("expand"), x, 1, 1, spec.expanded()))
	}
	dw := l.weights(ctx.In("depthwise").In("conv"), x.Graph(), "weights", spec.kernel, spec.kernel, 1, spec.expanded())
	x = swish(l.batchNorm(ctx.In("depthwise").In("bn"), ops.Depthwise(x, dw, spec.stride, l.cfg.Padding)))
	x = l.squeezeExcite(ctx.In("se"), x, spec.squeezed())
	x = l.convBN(ctx.In("project"), x, 1, 1, spec.out)
	if !spec.residual() {
		return x
	}
	if l.training && spec.dropRate > 0 {
		x = dropConnect(ctx, x, spec.dropRate)
	}
	return Add(x, input)
}

// squeezeExcite rescales the channels of x [B,H,W,C] by sigmoid(expand(swish(reduce(mean_HW(x))))).
func (l layerBuilder) squeezeExcite(ctx *context.Context, x *Node, squeezed int) *Node {
	channels := x.Shape().Dim(-1)
	s := spatialMean(x)
	s = swish(dense(ctx.In("reduce"), s, squeezed))
	s = Sigmoid(dense(ctx.In("expand"), s, channels))
	return Mul(x, InsertAxes(s, 1, 1))
}

// dense is x·weights + biases over the last axis of x, with variables "weights" [in, out] and
// "biases" [out] in ctx, computed in x's dtype.
func dense(ctx *context.Context, x *Node, out int) *Node {
	in := x.Shape().Dim(-1)
	y := ops.Pointwise(x, castVariable(ctx, x.Graph(), "weights", x.DType(), in, out))
	return Add(y, ExpandLeftToRank(castVariable(ctx, x.Graph(), "biases", x.DType(), out), y.Rank()))
}

// spatialMean averages x [B,H,W,C] over H and W, returning [B,C] in x's dtype. The sum runs in
// float32 for half-precision x: a backend may accumulate in the input dtype (SimpleGo does), and a
// bfloat16 running sum stops growing once it is ~256 times the values added to it, so the mean of
// a large feature map (150x150 in B3's first stage at 300x300) would come out far too small.
func spatialMean(x *Node) *Node {
	if x.DType() == dtypes.Float32 || x.DType() == dtypes.Float64 {
		return ReduceMean(x, 1, 2)
	}
	return ConvertDType(ReduceMean(ConvertDType(x, dtypes.Float32), 1, 2), x.DType())
}

// swish is x·sigmoid(x) (SiLU).
func swish(x *Node) *Node { return Mul(x, Sigmoid(x)) }

// dropConnect (stochastic depth) zeroes whole samples of x with probability rate and scales the
// survivors by 1/(1-rate), so the expectation is unchanged (torchvision's StochasticDepth "row").
// Callers apply it only in training.
func dropConnect(ctx *context.Context, x *Node, rate float64) *Node {
	g := x.Graph()
	maskDims := make([]int, x.Rank())
	for i := range maskDims {
		maskDims[i] = 1
	}
	maskDims[0] = x.Shape().Dim(0)
	return Mul(x, keepMask(ctx, g, rate, x, maskDims))
}

// dropout zeroes elements of x with probability rate and scales the rest by 1/(1-rate).
// Callers apply it only in training.
func dropout(ctx *context.Context, x *Node, rate float64) *Node {
	return Mul(x, keepMask(ctx, x.Graph(), rate, x, x.Shape().Dimensions))
}

// keepMask is 1/(1-rate) with probability 1-rate and 0 otherwise, in x's dtype and the given
// dimensions. The uniform draw is float32 even for bfloat16 x, whose 8-bit mantissa would bias
// the keep probability.
func keepMask(ctx *context.Context, g *Graph, rate float64, x *Node, dims []int) *Node {
	drawDType := x.DType()
	if drawDType != dtypes.Float64 {
		drawDType = dtypes.Float32
	}
	u := ctx.RandomUniform(g, shapes.Make(drawDType, dims...))
	keep := 1 - rate
	mask := ConvertDType(LessThan(u, Scalar(g, drawDType, keep)), x.DType())
	return MulScalar(mask, 1/keep)
}
