package model

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/pkg/errors"
	"github.com/supcon-go/supcon/model/ops"
)

// referenceEncoder returns a context holding the tiny encoder with torchvision reference values.
func referenceEncoder(t *testing.T, cfg Config, dims []int) *context.Context {
	ctx := context.New()
	out := buildOnly(t, testBackend(), ctx, cfg, dims...)
	if !slices.Equal(out.Dimensions, []int{dims[0], 320}) {
		t.Fatalf("tiny features %s, want [%d 320]", out, dims[0])
	}
	setReferenceValues(t, ctx)
	return ctx
}

// TestEncoderMatchesTorchvision runs the tiny encoder (width 0.25, depth 0.34: 10 blocks, some
// residual) on a 2x32x40 image with deterministic weights and compares its pooled features with
// torchvision's EfficientNet given the same weights (testdata/efficientnet_reference.py): in
// inference with symmetric padding (torchvision's own), with TF SAME padding (torchvision
// with SAME emulated), and in training mode (batch statistics).
func TestEncoderMatchesTorchvision(t *testing.T) {
	ref := loadReference(t)
	cfg := tinyConfig(t)
	if cfg.Width != ref.Tiny.Width || cfg.Depth != ref.Tiny.Depth {
		t.Fatalf("tiny config %gx%g, reference %gx%g", cfg.Width, cfg.Depth, ref.Tiny.Width, ref.Tiny.Depth)
	}
	cfg.DropConnect, cfg.Dropout = 0, 0 // torchvision's stochastic depth is off in the reference.
	images := referenceImages(ref.Tiny.Images)
	ctx := referenceEncoder(t, cfg, ref.Tiny.Images)

	const tol = 2e-4 // float32 through ~40 layers; the padding variants differ by > 1e-2.
	symmetric, same := cfg, cfg
	symmetric.Padding, same.Padding = ops.SymmetricPadding, ops.SamePadding
	gotSym := runEncoder(t, ctx, symmetric, false, images)
	if d := maxAbsDiff(t, gotSym, ref.Tiny.SymmetricInference); d > tol {
		t.Errorf("symmetric padding, inference: max |ours - torchvision| = %g", d)
	}
	gotSame := runEncoder(t, ctx, same, false, images)
	if d := maxAbsDiff(t, gotSame, ref.Tiny.SameInference); d > tol {
		t.Errorf("SAME padding, inference: max |ours - torchvision with TF SAME| = %g", d)
	}
	if d := maxAbsDiff(t, gotSame, gotSym); d < 1e-3 {
		t.Errorf("SAME and symmetric padding give the same features (max difference %g)", d)
	}
	gotTrain := runEncoder(t, ctx, symmetric, true, images)
	if d := maxAbsDiff(t, gotTrain, ref.Tiny.SymmetricTraining); d > 10*tol {
		t.Errorf("symmetric padding, training (batch statistics): max |ours - torchvision| = %g", d)
	}
}

// TestPaddingShapes: both paddings give ceil(size/stride) at every stride-2 layer, odd sizes
// included (torchvision's (k-1)/2 and SAME agree on sizes for odd kernels; only values differ).
func TestPaddingShapes(t *testing.T) {
	cfg := tinyConfig(t)
	for _, padding := range []ops.Padding{ops.SamePadding, ops.SymmetricPadding} {
		cfg.Padding = padding
		for _, size := range []int{33, 17, 1} {
			arch, err := Inspect(cfg, size)
			if err != nil {
				t.Fatal(err)
			}
			want := size
			for _, p := range arch.Parts {
				switch p.Name {
				case "stem", "stage2", "stage3", "stage4", "stage6":
					want = (want + 1) / 2
				}
				if p.Name == "pool" {
					continue
				}
				if got := p.OutputShape[1:3]; got[0] != want || got[1] != want {
					t.Errorf("%s, %dx%d input: %s output %v, want %dx%d", padding, size, size, p.Name, p.OutputShape, want, want)
				}
			}
		}
	}
}

// TestDropConnectOnlyInTraining: with a high drop-connect rate the training output changes (and
// depends on the random state), while inference ignores the rate.
func TestDropConnectOnlyInTraining(t *testing.T) {
	ref := loadReference(t)
	cfg := tinyConfig(t)
	cfg.Dropout = 0
	images := referenceImages(ref.Tiny.Images)
	ctx := referenceEncoder(t, cfg, ref.Tiny.Images)

	off, on := cfg, cfg
	off.DropConnect, on.DropConnect = 0, 0.9
	// Training graphs update the batch-norm moving averages, which inference reads: compare each
	// inference output with one computed from the same statistics.
	trainingOff := runEncoder(t, ctx, off, true, images)
	if d := maxAbsDiff(t, runEncoder(t, ctx, off, true, images), trainingOff); d != 0 {
		t.Errorf("training without drop-connect is not deterministic (difference %g)", d)
	}
	for seed := range int64(3) {
		if err := ctx.SetRNGStateFromSeed(seed); err != nil {
			t.Fatal(err)
		}
		inferenceOff := runEncoder(t, ctx, off, false, images)
		if d := maxAbsDiff(t, runEncoder(t, ctx, on, false, images), inferenceOff); d != 0 {
			t.Errorf("seed %d: inference output depends on the drop-connect rate (difference %g)", seed, d)
		}
		if d := maxAbsDiff(t, runEncoder(t, ctx, on, true, images), trainingOff); d < 1e-4 {
			t.Errorf("seed %d: drop-connect 0.9 left the training output unchanged (difference %g)", seed, d)
		}
	}
}

// TestDropConnectPerSample: each sample is either zeroed or scaled by 1/(1-rate) as a whole.
func TestDropConnectPerSample(t *testing.T) {
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(7); err != nil {
		t.Fatal(err)
	}
	const batch, rate = 64, 0.5
	out := context.MustExecOnce(testBackend(), ctx, func(ctx *context.Context, g *Graph) *Node {
		return dropConnect(ctx, Ones(g, shapes.Make(dtypes.Float32, batch, 2, 3, 4)), rate)
	})
	flat := tensors.MustCopyFlatData[float32](out)
	dropped := 0
	for b := range batch {
		sample := flat[b*24 : (b+1)*24]
		for _, v := range sample {
			if v != sample[0] {
				t.Fatalf("sample %d mixes values: %v", b, sample)
			}
		}
		switch sample[0] {
		case 0:
			dropped++
		case 1 / (1 - rate):
		default:
			t.Fatalf("sample %d = %g, want 0 or %g", b, sample[0], 1/(1-rate))
		}
	}
	// Binomial(64, 0.5): 10..54 has probability 1 - 2e-8.
	if dropped < 10 || dropped > 54 {
		t.Errorf("%d of %d samples dropped at rate %g", dropped, batch, rate)
	}
}

// TestBFloat16 computes in bfloat16 with float32 variables and stays close to float32.
func TestBFloat16(t *testing.T) {
	ref := loadReference(t)
	cfg := tinyConfig(t)
	cfg.Padding = ops.SymmetricPadding
	images := referenceImages(ref.Tiny.Images)
	ctx := referenceEncoder(t, cfg, ref.Tiny.Images)
	bf16 := cfg
	bf16.DType = dtypes.BFloat16
	got := runEncoder(t, ctx, bf16, false, images)
	for v := range ctx.IterVariables() {
		if v.DType() != dtypes.Float32 {
			t.Errorf("variable %s is %s, want float32 master weights", v.ScopeAndName(), v.DType())
		}
	}
	// bfloat16 keeps ~3 significant digits; the features are O(0.1-1).
	scale := 0.0
	for _, row := range ref.Tiny.SymmetricInference {
		for _, v := range row {
			scale = max(scale, math.Abs(v))
		}
	}
	if d := maxAbsDiff(t, got, ref.Tiny.SymmetricInference); d > 0.05*scale || math.IsInf(d, 0) {
		t.Errorf("bfloat16 features differ from float32 torchvision by %g (features up to %g)", d, scale)
	}
}

// TestBatchNormEpsilonEveryLayer checks that every batch norm divides by
// sqrt(variance + cfg.BatchNormEpsilon): in inference, epsilon e with running variances v must
// compute exactly what epsilon e' with variances v + e - e' computes. A batch norm using any
// other epsilon (a constant, say) would see different denominators in the two runs.
func TestBatchNormEpsilonEveryLayer(t *testing.T) {
	ref := loadReference(t)
	cfg := tinyConfig(t)
	// float64 so that rounding (~1e-8 from the final float32 conversion) stays far below the
	// ~1e-5 change of one batch norm with the wrong epsilon.
	cfg.DType = dtypes.Float64
	images := referenceImages(ref.Tiny.Images)
	ctx := referenceEncoder(t, cfg, ref.Tiny.Images)

	const small, large = 1e-3, 0.05
	narrow, wide := cfg, cfg
	narrow.BatchNormEpsilon, wide.BatchNormEpsilon = small, large
	gotNarrow, gotWide := runEncoder(t, ctx, narrow, false, images), runEncoder(t, ctx, wide, false, images)
	// Control: the epsilon matters at all, by far more than the tolerance below.
	if d := maxAbsDiff(t, gotNarrow, gotWide); d < 1e-3 {
		t.Fatalf("epsilon %g and %g give nearly the same features (max difference %g)", small, large, d)
	} else {
		t.Logf("epsilon %g vs %g: max difference %.3g", small, large, d)
	}
	shifted := 0
	for v := range ctx.IterVariables() {
		if v.Name() != "variance" {
			continue
		}
		vals := tensors.MustCopyFlatData[float64](v.MustValue())
		for i := range vals {
			vals[i] += large - small
		}
		v.MustSetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...))
		shifted++
	}
	if shifted == 0 {
		t.Fatal("no batch-norm variances found")
	}
	if d := maxAbsDiff(t, runEncoder(t, ctx, narrow, false, images), gotWide); d > 1e-7 {
		t.Errorf("epsilon %g with variances shifted by %g differs from epsilon %g by %g: "+
			"some batch norm does not use Config.BatchNormEpsilon", small, large-small, large, d)
	} else {
		t.Logf("%d batch norms; shifted variances vs wider epsilon: max difference %.3g", shifted, d)
	}
}

// TestBatchNormMomentumEveryLayer checks that every batch norm's moving averages follow
// m' = momentum*m + (1-momentum)*b with momentum = cfg.BatchNormMomentum: one training step with
// momentum 0.9 and one (from the same start) with 0.5 must imply the same batch statistic b,
// (m' - momentum*m)/(1-momentum), for every element of every running mean and variance.
func TestBatchNormMomentumEveryLayer(t *testing.T) {
	ref := loadReference(t)
	cfg := tinyConfig(t)
	cfg.DropConnect, cfg.Dropout = 0, 0 // deterministic batch statistics
	images := referenceImages(ref.Tiny.Images)

	implied := func(momentum float64) map[string][]float64 {
		ctx := referenceEncoder(t, cfg, ref.Tiny.Images)
		before := snapshot(t, ctx, "/"+EncoderScope)
		c := cfg
		c.BatchNormMomentum = momentum
		runEncoder(t, ctx, c, true, images)
		after := snapshot(t, ctx, "/"+EncoderScope)
		out := map[string][]float64{}
		for name, old := range before {
			if !strings.HasSuffix(name, "/mean") && !strings.HasSuffix(name, "/variance") {
				continue
			}
			b := make([]float64, len(old))
			for i := range old {
				b[i] = (float64(after[name][i]) - momentum*float64(old[i])) / (1 - momentum)
			}
			out[name] = b
		}
		return out
	}
	slow, fast := implied(0.9), implied(0.5)
	if len(slow) == 0 || len(slow) != len(fast) {
		t.Fatalf("%d and %d batch-norm statistics", len(slow), len(fast))
	}
	worst := 0.0
	for name, b := range slow {
		for i := range b {
			// Relative: float32 rounding of m' is amplified by 1/(1-momentum) = 10.
			d := math.Abs(b[i]-fast[name][i]) / (1 + math.Abs(b[i]))
			worst = max(worst, d)
			if d > 1e-4 {
				t.Fatalf("%s[%d]: batch statistic %g implied with momentum 0.9, %g with 0.5: "+
					"this batch norm does not use Config.BatchNormMomentum", name, i, b[i], fast[name][i])
			}
		}
	}
	t.Logf("%d statistics agree to %.3g (relative)", len(slow), worst)
}

// TestSpatialMeanBFloat16: the squeeze-excitation and global pooling means of a bfloat16 150x150
// map (B3's first stage at 300x300) are accurate to bfloat16 precision. Summed in bfloat16, as
// SimpleGo's ReduceMean does, this mean comes out about 0.006 instead of 0.7.
func TestSpatialMeanBFloat16(t *testing.T) {
	const size, channels = 150, 2
	flat := make([]float32, size*size*channels)
	want := make([]float64, channels)
	for i := range flat {
		// Values exactly representable in bfloat16 (multiples of 1/64 in [0.5, 1)), so the input
		// conversion loses nothing and only the summation can.
		flat[i] = 0.5 + float32((i*7919)%32)/64
		want[i%channels] += float64(flat[i]) / (size * size)
	}
	out := MustExecOnce(testBackend(), func(x *Node) *Node {
		mean := spatialMean(ConvertDType(x, dtypes.BFloat16))
		if mean.DType() != dtypes.BFloat16 {
			panic(errors.Errorf("spatialMean returned %s for bfloat16 input", mean.DType()))
		}
		return ConvertDType(mean, dtypes.Float32)
	}, tensors.FromFlatDataAndDimensions(flat, 1, size, size, channels))
	got := tensors.MustCopyFlatData[float32](out)
	for c := range channels {
		// Within one bfloat16 step (8 significant bits; the conversion may truncate): 2^-7 relative.
		if d := math.Abs(float64(got[c])-want[c]) / want[c]; d > 1.0/128 {
			t.Errorf("channel %d: mean %g, want %g (relative error %.3g)", c, got[c], want[c], d)
		}
	}
}
