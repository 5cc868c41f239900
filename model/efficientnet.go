// Package model builds the networks of the trainer with GoMLX's context + graph API: the
// EfficientNet B0..B7 encoder (efficientnet*.go), the SupCon projection head and the
// classifier head (heads.go), and a Keras-like textual summary (summary.go).
//
// Every convolution, dense layer and batch norm goes through package model/ops, whose ops
// train on every backend (GoMLX's layers.Convolution and batchnorm do not train on SimpleGo).
//
// Variable names are a contract with the torchvision/timm weights loader: see Encoder.
package model

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/pkg/errors"
	"github.com/supcon-go/supcon/model/ops"
)

// Context hyperparameters of the encoder, GoMLX-style: DefaultParams gives their defaults, the
// trainer's `-set` flag overrides them, and ConfigFromContext reads them.
const (
	// ParamWidth overrides the width multiplier of the named model when > 0.
	ParamWidth = "efficientnet_width"
	// ParamDepth overrides the depth multiplier of the named model when > 0.
	ParamDepth = "efficientnet_depth"
	// ParamDropConnect is the maximum stochastic-depth (drop-connect) rate, reached by the last block.
	ParamDropConnect = "efficientnet_drop_connect"
	// ParamDropout is the dropout on the pooled features in training. The default 0 is the
	// article's encoder (Keras' include_top=False has no top dropout; the classifier head has its
	// own); a negative value selects the model's published top-dropout rate (0.3 for B3).
	ParamDropout = "efficientnet_dropout"
	// ParamPadding is "same" (TensorFlow/Keras SAME, the default) or "symmetric" (torchvision's).
	ParamPadding = "efficientnet_padding"
	// ParamDType is the compute dtype, "float32" or "bfloat16" (variables stay float32).
	ParamDType = "efficientnet_dtype"
	// ParamBatchNormEpsilon is the epsilon of every batch norm (Config.BatchNormEpsilon).
	ParamBatchNormEpsilon = "efficientnet_bn_epsilon"
	// ParamBatchNormMomentum is the moving-average momentum of every batch norm, Keras' convention
	// (Config.BatchNormMomentum).
	ParamBatchNormMomentum = "efficientnet_bn_momentum"
)

// DefaultParams returns the defaults of every hyperparameter this package reads from the context
// (encoder and heads), for the trainer to set before parsing `-set`: GoMLX's
// commandline.ParseContextSettings only accepts parameters that already have a default.
func DefaultParams() map[string]any {
	return map[string]any{
		ParamWidth:             0.0,
		ParamDepth:             0.0,
		ParamDropConnect:       DefaultDropConnect,
		ParamDropout:           0.0,
		ParamPadding:           "same",
		ParamDType:             "float32",
		ParamBatchNormEpsilon:  DefaultBatchNormEpsilon,
		ParamBatchNormMomentum: DefaultBatchNormMomentum,
		ParamProjectionMLP:     false,
		ParamProjectionDim:     128,
		ParamProjectionHidden:  2048,
		ParamClassifierHidden:  1000,
		ParamClassifierDropout: 0.5,
	}
}

// DefaultDropConnect is the stochastic-depth rate of the last block in the published models
// (Keras' drop_connect_rate, torchvision's stochastic_depth_prob).
const DefaultDropConnect = 0.2

// Batch-norm defaults of the published EfficientNets: Keras' BatchNormalization epsilon 1e-3 and
// momentum 0.99 (torchvision's momentum 0.01 is the same average written the other way round;
// its b0-b4 use epsilon 1e-5, see model/pretrained's Report).
const (
	DefaultBatchNormEpsilon  = 1e-3
	DefaultBatchNormMomentum = 0.99
)

// Config describes one EfficientNet encoder.
type Config struct {
	// Name is informative ("b3", or "custom" for hand-made multipliers).
	Name string
	// Width multiplies every channel count (then rounded by RoundFilters); Depth multiplies the
	// number of blocks of every stage (rounded up by RoundRepeats).
	Width, Depth float64
	// Resolution is the published input size; the encoder itself accepts any size.
	Resolution int
	// Dropout is applied to the pooled features, in training only. ConfigFor sets the published
	// top-dropout rate (that of the classification model); ConfigFromContext sets ParamDropout's.
	Dropout float64
	// DropConnect is the stochastic-depth rate of the last block; block i of n gets DropConnect*i/n.
	DropConnect float64
	// Padding of the strided and k>1 convolutions: ops.SamePadding (TF SAME, asymmetric for
	// stride 2, the Keras weights' convention) or ops.SymmetricPadding (torchvision's (k-1)/2).
	Padding ops.Padding
	// BatchNormEpsilon is added to the variance in every batch norm of the encoder. Pretrained
	// weights only compute what they computed in training with their own epsilon (torchvision's
	// b0-b4 use 1e-5): set it from the loader's report (pretrained.Report.Apply).
	BatchNormEpsilon float64
	// BatchNormMomentum is the weight of the old value in the batch norms' moving averages
	// (Keras' convention: m = momentum*m + (1-momentum)*batch statistic), in [0, 1].
	BatchNormMomentum float64
	// DType is the compute dtype: Float32 (default), BFloat16 (variables stay Float32 and are cast
	// at use) or Float64 (variables Float64 too, for gradient checks).
	DType dtypes.DType
	// Frozen makes the encoder a fixed feature extractor (SupCon's stage 2): no gradient flows into
	// it (StopGradient on its output, its variables marked non-trainable), batch norm uses and keeps
	// its running statistics, and drop-connect/dropout are off even in training.
	Frozen bool
}

// compoundScaling is the published (width, depth, resolution, dropout) of B0..B7.
var compoundScaling = map[string]struct {
	width, depth float64
	resolution   int
	dropout      float64
}{
	"b0": {1.0, 1.0, 224, 0.2},
	"b1": {1.0, 1.1, 240, 0.2},
	"b2": {1.1, 1.2, 260, 0.3},
	"b3": {1.2, 1.4, 300, 0.3},
	"b4": {1.4, 1.8, 380, 0.4},
	"b5": {1.6, 2.2, 456, 0.4},
	"b6": {1.8, 2.6, 528, 0.5},
	"b7": {2.0, 3.1, 600, 0.5},
}

// ModelNames lists the names ConfigFor accepts, in order.
var ModelNames = []string{"b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7"}

// ConfigFor returns the published configuration of EfficientNet-<name>, name "b0".."b7"
// (an "efficientnet-" or "efficientnet_" prefix and upper case are accepted), with TF SAME
// padding, float32, drop-connect 0.2 and Keras' batch norm (epsilon 1e-3, momentum 0.99).
func ConfigFor(name string) (Config, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	key = strings.TrimPrefix(strings.TrimPrefix(key, "efficientnet-"), "efficientnet_")
	s, ok := compoundScaling[key]
	if !ok {
		return Config{}, errors.Errorf("unknown EfficientNet model %q: want one of %s", name, strings.Join(ModelNames, ", "))
	}
	return Config{
		Name: key, Width: s.width, Depth: s.depth, Resolution: s.resolution, Dropout: s.dropout,
		DropConnect: DefaultDropConnect, Padding: ops.SamePadding, DType: dtypes.Float32,
		BatchNormEpsilon: DefaultBatchNormEpsilon, BatchNormMomentum: DefaultBatchNormMomentum,
	}, nil
}

// CustomConfig returns a configuration with arbitrary multipliers (e.g. tiny ones for tests),
// the other fields as ConfigFor's B0.
func CustomConfig(width, depth float64) (Config, error) {
	cfg, err := ConfigFor("b0")
	if err != nil {
		return Config{}, err
	}
	cfg.Name, cfg.Width, cfg.Depth = "custom", width, depth
	return cfg, cfg.Validate()
}

// ConfigFromContext returns ConfigFor(name) with the context's hyperparameters (see the Param*
// constants) applied on top; unset ones take DefaultParams' values (so Dropout is 0 unless
// ParamDropout says otherwise).
func ConfigFromContext(ctx *context.Context, name string) (Config, error) {
	cfg, err := ConfigFor(name)
	if err != nil {
		return Config{}, err
	}
	if w := context.GetParamOr(ctx, ParamWidth, 0.0); w > 0 {
		cfg.Width, cfg.Name = w, "custom"
	}
	if d := context.GetParamOr(ctx, ParamDepth, 0.0); d > 0 {
		cfg.Depth, cfg.Name = d, "custom"
	}
	cfg.DropConnect = context.GetParamOr(ctx, ParamDropConnect, cfg.DropConnect)
	if d := context.GetParamOr(ctx, ParamDropout, 0.0); d >= 0 {
		cfg.Dropout = d
	}
	if cfg.Padding, err = ParsePadding(context.GetParamOr(ctx, ParamPadding, "same")); err != nil {
		return Config{}, err
	}
	cfg.BatchNormEpsilon = context.GetParamOr(ctx, ParamBatchNormEpsilon, cfg.BatchNormEpsilon)
	cfg.BatchNormMomentum = context.GetParamOr(ctx, ParamBatchNormMomentum, cfg.BatchNormMomentum)
	switch dt := strings.ToLower(context.GetParamOr(ctx, ParamDType, "float32")); dt {
	case "float32", "f32":
		cfg.DType = dtypes.Float32
	case "bfloat16", "bf16":
		cfg.DType = dtypes.BFloat16
	default:
		return Config{}, errors.Errorf("%s=%q: want float32 or bfloat16", ParamDType, dt)
	}
	return cfg, cfg.Validate()
}

// ParsePadding maps "same" and "symmetric" to ops' paddings.
func ParsePadding(s string) (ops.Padding, error) {
	switch strings.ToLower(s) {
	case "same", "tf", "":
		return ops.SamePadding, nil
	case "symmetric", "torch":
		return ops.SymmetricPadding, nil
	}
	return ops.SamePadding, errors.Errorf("padding %q: want \"same\" or \"symmetric\"", s)
}

// Validate reports the first invalid field.
func (cfg Config) Validate() error {
	switch {
	case !(cfg.Width > 0) || math.IsInf(cfg.Width, 0):
		return errors.Errorf("EfficientNet config %q: width multiplier %g must be > 0", cfg.Name, cfg.Width)
	case !(cfg.Depth > 0) || math.IsInf(cfg.Depth, 0):
		return errors.Errorf("EfficientNet config %q: depth multiplier %g must be > 0", cfg.Name, cfg.Depth)
	case !(cfg.DropConnect >= 0 && cfg.DropConnect < 1):
		return errors.Errorf("EfficientNet config %q: drop-connect rate %g must be in [0, 1)", cfg.Name, cfg.DropConnect)
	case !(cfg.Dropout >= 0 && cfg.Dropout < 1):
		return errors.Errorf("EfficientNet config %q: dropout rate %g must be in [0, 1)", cfg.Name, cfg.Dropout)
	case !(cfg.BatchNormEpsilon > 0) || math.IsInf(cfg.BatchNormEpsilon, 0):
		return errors.Errorf("EfficientNet config %q: batch-norm epsilon %g must be > 0", cfg.Name, cfg.BatchNormEpsilon)
	case !(cfg.BatchNormMomentum >= 0 && cfg.BatchNormMomentum <= 1):
		return errors.Errorf("EfficientNet config %q: batch-norm momentum %g must be in [0, 1]", cfg.Name, cfg.BatchNormMomentum)
	case cfg.Padding != ops.SamePadding && cfg.Padding != ops.SymmetricPadding:
		return errors.Errorf("EfficientNet config %q: unknown padding %v", cfg.Name, cfg.Padding)
	}
	switch cfg.DType {
	case dtypes.Float32, dtypes.BFloat16, dtypes.Float64:
	default:
		return errors.Errorf("EfficientNet config %q: compute dtype %s not supported (want Float32, BFloat16 or Float64)", cfg.Name, cfg.DType)
	}
	return nil
}

// String describes the configuration in one line.
func (cfg Config) String() string {
	pad := "SAME"
	if cfg.Padding == ops.SymmetricPadding {
		pad = "symmetric"
	}
	return fmt.Sprintf("EfficientNet-%s (width %g, depth %g, resolution %d, dropout %g, drop-connect %g, %s padding, "+
		"batch-norm epsilon %g momentum %g, %s)", strings.ToUpper(cfg.Name), cfg.Width, cfg.Depth, cfg.Resolution,
		cfg.Dropout, cfg.DropConnect, pad, cfg.BatchNormEpsilon, cfg.BatchNormMomentum, cfg.DType)
}

// stageArgs is one row of the B0 table: an MBConv stage.
type stageArgs struct {
	expand, kernel, stride, in, out, repeats int
}

// b0Stages is the EfficientNet-B0 table (Tan & Le 2019, table 1): expand ratio, kernel, stride,
// input and output channels, repeats.
var b0Stages = [7]stageArgs{
	{1, 3, 1, 32, 16, 1},
	{6, 3, 2, 16, 24, 2},
	{6, 5, 2, 24, 40, 2},
	{6, 3, 2, 40, 80, 3},
	{6, 5, 1, 80, 112, 3},
	{6, 5, 2, 112, 192, 4},
	{6, 3, 1, 192, 320, 1},
}

// B0 stem and head channels, before width scaling.
const (
	stemFilters = 32
	headFilters = 1280
)

// RoundFilters scales a channel count by the width multiplier and rounds it to the nearest
// multiple of 8, never below 8 and never below 90% of the scaled value (Keras' round_filters,
// torchvision's _make_divisible).
func RoundFilters(filters int, width float64) int {
	const divisor = 8
	scaled := float64(filters) * width
	rounded := max(divisor, int(scaled+divisor/2)/divisor*divisor)
	if float64(rounded) < 0.9*scaled {
		rounded += divisor
	}
	return rounded
}

// RoundRepeats scales a stage's number of blocks by the depth multiplier, rounding up.
func RoundRepeats(repeats int, depth float64) int {
	// Exactly Keras' and torchvision's int(ceil(depth*repeats)), float rounding included, so that
	// block counts (and pretrained weights' names) agree.
	return int(math.Ceil(depth * float64(repeats)))
}

// blockSpec is one MBConv block after scaling.
type blockSpec struct {
	stage, index           int // stage 1..7 and block 0..repeats-1: scope "stage{stage}/block{index}".
	globalIndex            int // 0..numBlocks-1 over the whole network.
	expand, kernel, stride int
	in, out                int
	dropRate               float64 // stochastic depth; only applied when residual.
}

// expanded is the channel count inside the block.
func (b blockSpec) expanded() int { return b.in * b.expand }

// squeezed is the squeeze-excitation bottleneck: a quarter of the block's input channels.
func (b blockSpec) squeezed() int { return max(1, b.in/4) }

// residual tells whether the block has the identity shortcut (and hence stochastic depth).
func (b blockSpec) residual() bool { return b.stride == 1 && b.in == b.out }

// blocks expands the B0 table with the configuration's multipliers.
func (cfg Config) blocks() []blockSpec {
	var specs []blockSpec
	total := 0
	for _, s := range b0Stages {
		total += RoundRepeats(s.repeats, cfg.Depth)
	}
	for si, s := range b0Stages {
		in, out := RoundFilters(s.in, cfg.Width), RoundFilters(s.out, cfg.Width)
		for b := range RoundRepeats(s.repeats, cfg.Depth) {
			spec := blockSpec{
				stage: si + 1, index: b, globalIndex: len(specs),
				expand: s.expand, kernel: s.kernel, stride: s.stride, in: in, out: out,
				dropRate: cfg.DropConnect * float64(len(specs)) / float64(total),
			}
			if b > 0 {
				spec.stride, spec.in = 1, out
			}
			specs = append(specs, spec)
		}
	}
	return specs
}

// StemChannels and HeadChannels are the scaled channel counts of the stem and of the final 1x1
// convolution (the size of the pooled features).
func (cfg Config) StemChannels() int { return RoundFilters(stemFilters, cfg.Width) }

// HeadChannels is the size of the encoder's output features (1280 for B0, 1536 for B3).
func (cfg Config) HeadChannels() int { return RoundFilters(headFilters, cfg.Width) }
