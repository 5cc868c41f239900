package model

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// snapshot copies the value of every variable under scope ("/encoder", ...).
func snapshot(t testing.TB, ctx *context.Context, scope string) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for v := range ctx.IterVariables() {
		if strings.HasPrefix(v.Scope(), scope+"/") && v.DType() == dtypes.Float32 {
			out[v.ScopeAndName()] = tensors.MustCopyFlatData[float32](v.MustValue())
		}
	}
	if len(out) == 0 {
		t.Fatalf("no variables under %s", scope)
	}
	return out
}

// changed lists the variables of before whose value is now different.
func changed(t testing.TB, ctx *context.Context, before map[string][]float32) (names []string) {
	t.Helper()
	for name, old := range before {
		scope, varName := name[:strings.LastIndex(name, "/")], name[strings.LastIndex(name, "/")+1:]
		now := tensors.MustCopyFlatData[float32](ctx.GetVariableByScopeAndName(scope, varName).MustValue())
		if !slices.Equal(old, now) {
			names = append(names, name)
		}
	}
	return names
}

// pairLoss is a minimal contrastive-style loss: the two halves of the batch are two views of the
// same samples, and their L2-normalised projections should align.
// It is computed in float32 whatever the compute dtype, as a trainer would.
func pairLoss(projections *Node) *Node {
	projections = ConvertDType(projections, dtypes.Float32)
	norm := Sqrt(AddScalar(ReduceSum(Square(projections), -1), 1e-12))
	p := Div(projections, InsertAxes(norm, -1))
	half := projections.Shape().Dim(0) / 2
	a, b := SliceAxis(p, 0, AxisRange(0, half)), SliceAxis(p, 0, AxisRange(half, 2*half))
	return Neg(ReduceAllMean(ReduceSum(Mul(a, b), -1)))
}

// trainStep returns an exec running one Adam step of encoder + projection + pairLoss, returning
// the loss and the sum of |gradient| over the encoder's variables.
func trainStep(t testing.TB, ctx *context.Context, cfg Config, mlp bool) *context.Exec {
	t.Helper()
	opt := optimizers.Adam().LearningRate(1e-2).Done()
	exec, err := context.NewExec(testBackend(), ctx, func(ctx *context.Context, images *Node) (loss, encoderGrad *Node) {
		g := images.Graph()
		ctx.SetTraining(g, true)
		loss = pairLoss(ProjectionHead(ctx, Encoder(ctx, cfg, images), mlp))
		// A second backward pass just for the test's gradient check (the optimizer makes its own).
		var encoderVars []*Node
		for v := range ctx.In(EncoderScope).IterVariablesInScope() {
			if !isBNStat(v.Name()) {
				encoderVars = append(encoderVars, v.ValueGraph(g))
			}
		}
		encoderGrad = ScalarZero(g, dtypes.Float32)
		for _, grad := range Gradient(loss, encoderVars...) {
			encoderGrad = Add(encoderGrad, ReduceAllSum(Abs(grad)))
		}
		opt.UpdateGraph(ctx, g, loss)
		return
	})
	if err != nil {
		t.Fatal(err)
	}
	return exec
}

// TestTrainStepTiny runs Adam steps of the tiny encoder + projection on the test backend, in
// float32 and in bfloat16 compute: forward and backward work, the loss is finite, the encoder's
// (float32) weights and batch-norm statistics move.
func TestTrainStepTiny(t *testing.T) {
	for _, dtype := range []dtypes.DType{dtypes.Float32, dtypes.BFloat16} {
		t.Run(dtype.String(), func(t *testing.T) {
			cfg := tinyConfig(t)
			cfg.DType = dtype
			ctx := context.New()
			if err := ctx.SetRNGStateFromSeed(1); err != nil {
				t.Fatal(err)
			}
			ctx.SetParam(ParamProjectionDim, 16)
			images := referenceImages([]int{4, 32, 32, 3})
			exec := trainStep(t, ctx, cfg, true)
			defer exec.Finalize()
			var before map[string][]float32
			for step := range 3 {
				out, err := exec.Exec(images)
				if err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				loss, grad := out[0].Value().(float32), out[1].Value().(float32)
				if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) || loss < -1.01 || loss > 1.01 {
					t.Errorf("step %d: loss %g, want finite in [-1, 1]", step, loss)
				}
				if !(grad > 0) || math.IsInf(float64(grad), 0) {
					t.Errorf("step %d: sum |encoder gradient| = %g, want finite > 0", step, grad)
				}
				if step == 0 {
					before = snapshot(t, ctx, "/"+EncoderScope)
				}
			}
			moved := changed(t, ctx, before)
			for _, want := range []string{"/encoder/stem/conv/weights", "/encoder/stage6/block1/se/reduce/biases",
				"/encoder/head/bn/offset", "/encoder/head/bn/mean", "/encoder/stage1/block0/depthwise/bn/variance"} {
				if !slices.Contains(moved, want) {
					t.Errorf("%s did not change in training", want)
				}
			}
		})
	}
}

// TestFrozenEncoder: a frozen encoder gets no gradient and keeps every variable (batch-norm
// statistics included) while the classifier trains; unfreezing brings the gradient back.
func TestFrozenEncoder(t *testing.T) {
	cfg := tinyConfig(t)
	ctx := context.New()
	ctx.SetParam(ParamProjectionDim, 16)
	images := referenceImages([]int{4, 32, 32, 3})
	buildOnly(t, testBackend(), ctx, cfg, 4, 32, 32, 3)
	if err := ctx.InitializeVariables(testBackend(), nil); err != nil {
		t.Fatal(err)
	}
	encoderBefore := snapshot(t, ctx, "/"+EncoderScope)

	frozen := cfg
	frozen.Frozen = true
	exec := trainStep(t, ctx.Checked(false), frozen, false)
	defer exec.Finalize()
	var projectionBefore map[string][]float32
	for step := range 2 {
		out, err := exec.Exec(images)
		if err != nil {
			t.Fatal(err)
		}
		if grad := out[1].Value().(float32); grad != 0 {
			t.Errorf("step %d: frozen encoder got gradient (sum |g| = %g)", step, grad)
		}
		if step == 0 {
			projectionBefore = snapshot(t, ctx, "/"+ProjectionScope)
		}
	}
	if moved := changed(t, ctx, encoderBefore); len(moved) > 0 {
		t.Errorf("frozen encoder variables changed: %v", moved)
	}
	if moved := changed(t, ctx, projectionBefore); len(moved) != 2 {
		t.Errorf("projection variables changed: %v, want weights and biases", moved)
	}
	for v := range ctx.In(EncoderScope).IterVariablesInScope() {
		if v.Trainable {
			t.Errorf("frozen encoder variable %s is trainable", v.ScopeAndName())
		}
	}

	unfrozen := trainStep(t, ctx.Checked(false), cfg, false)
	defer unfrozen.Finalize()
	out, err := unfrozen.Exec(images)
	if err != nil {
		t.Fatal(err)
	}
	if grad := out[1].Value().(float32); !(grad > 0) {
		t.Errorf("unfrozen encoder: sum |g| = %g, want > 0", grad)
	}
	if moved := changed(t, ctx, encoderBefore); len(moved) == 0 {
		t.Error("unfrozen encoder did not train")
	}
}

// TestFrozenEncoderComputesInference: in a training graph a frozen encoder computes exactly its
// inference output: batch norm uses the running statistics, and drop-connect and the top dropout
// are off, here at rates (0.9, 0.5) that would change almost every sample.
func TestFrozenEncoderComputesInference(t *testing.T) {
	ref := loadReference(t)
	cfg := tinyConfig(t)
	cfg.DropConnect, cfg.Dropout = 0.9, 0.5
	images := referenceImages(ref.Tiny.Images)
	ctx := referenceEncoder(t, cfg, ref.Tiny.Images)
	if err := ctx.SetRNGStateFromSeed(11); err != nil {
		t.Fatal(err)
	}
	inference := runEncoder(t, ctx, cfg, false, images)
	frozen := cfg
	frozen.Frozen = true
	if d := maxAbsDiff(t, runEncoder(t, ctx, frozen, true, images), inference); d != 0 {
		t.Errorf("frozen encoder in training differs from inference by %g", d)
	}
	// Control: unfrozen, the same training graph does differ.
	if d := maxAbsDiff(t, runEncoder(t, ctx, cfg, true, images), inference); d < 1e-3 {
		t.Errorf("unfrozen training output is within %g of inference: the test shows nothing", d)
	}
}
