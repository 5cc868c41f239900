package ops

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/supcon-go/supcon/model/gradcheck"
	"github.com/supcon-go/supcon/tpu"
)

// bnReference holds testdata/batchnorm_ref.json, written by testdata/batchnorm_ref.py (numpy).
type bnReference struct {
	Shape             []int
	Momentum, Epsilon float64
	X, Scale, Offset  []float64
	MovingMean        []float64 `json:"moving_mean"`
	MovingVar         []float64 `json:"moving_var"`
	YTrain            []float64 `json:"y_train"`
	NewMovingMean     []float64 `json:"new_moving_mean"`
	NewMovingVar      []float64 `json:"new_moving_var"`
	YInfer            []float64 `json:"y_infer"`
}

func loadBNReference(t *testing.T) bnReference {
	t.Helper()
	raw, err := os.ReadFile("testdata/batchnorm_ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref bnReference
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// bnContext returns a context whose scope "bn" holds the reference's variables in dtype dt,
// set to Reuse so BatchNorm must find (not create) them.
func bnContext(ref bnReference, dt dtypes.DType) *context.Context {
	ctx := context.New().In("bn")
	for name, values := range map[string][]float64{
		"scale": ref.Scale, "offset": ref.Offset, "mean": ref.MovingMean, "variance": ref.MovingVar,
	} {
		ctx.VariableWithValue(name, toDType(values, dt, len(values)))
	}
	return ctx.Reuse()
}

// toDType converts float64 values to a tensor of dtype dt (float64 or float32) and the given dims.
func toDType(values []float64, dt dtypes.DType, dims ...int) *tensors.Tensor {
	if dt == dtypes.Float64 {
		return tensors.FromFlatDataAndDimensions(values, dims...)
	}
	f := make([]float32, len(values))
	for i, v := range values {
		f[i] = float32(v)
	}
	return tensors.FromFlatDataAndDimensions(f, dims...)
}

func flat64(t *testing.T, x *tensors.Tensor) []float64 {
	t.Helper()
	switch x.DType() {
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](x)
	case dtypes.Float32:
		f := tensors.MustCopyFlatData[float32](x)
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out
	}
	t.Fatalf("unexpected dtype %s", x.DType())
	return nil
}

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Errorf("%s[%d] = %.8g, want %.8g", what, i, got[i], want[i])
			return
		}
	}
}

func variableValue(t *testing.T, ctx *context.Context, name string) []float64 {
	t.Helper()
	v := ctx.GetVariableByScopeAndName(ctx.Scope(), name)
	if v == nil {
		t.Fatalf("variable %q not found in scope %q", name, ctx.Scope())
	}
	return flat64(t, v.MustValue())
}

// runBatchNorm executes BatchNorm once on ref.X in dtype dt and returns its output as float64.
func runBatchNorm(t *testing.T, ctx *context.Context, ref bnReference, dt dtypes.DType, training bool, opts BatchNormOptions) []float64 {
	t.Helper()
	out, err := context.ExecOnce(tpu.ForTests(), ctx, func(ctx *context.Context, x *Node) *Node {
		ctx.SetTraining(x.Graph(), training)
		return BatchNorm(ctx, x, opts)
	}, toDType(ref.X, dt, ref.Shape...))
	if err != nil {
		t.Fatal(err)
	}
	return flat64(t, out)
}

func TestBatchNormReference(t *testing.T) {
	ref := loadBNReference(t)
	opts := BatchNormOptions{Momentum: ref.Momentum, Epsilon: ref.Epsilon}
	for _, c := range []struct {
		dt  dtypes.DType
		tol float64
	}{{dtypes.Float64, 1e-12}, {dtypes.Float32, 2e-6}} {
		t.Run(c.dt.String(), func(t *testing.T) {
			ctx := bnContext(ref, c.dt)
			assertClose(t, "training output", runBatchNorm(t, ctx, ref, c.dt, true, opts), ref.YTrain, c.tol)
			assertClose(t, "moving mean after one step", variableValue(t, ctx, "mean"), ref.NewMovingMean, c.tol)
			assertClose(t, "moving variance after one step", variableValue(t, ctx, "variance"), ref.NewMovingVar, c.tol)

			ctx = bnContext(ref, c.dt)
			assertClose(t, "inference output", runBatchNorm(t, ctx, ref, c.dt, false, opts), ref.YInfer, c.tol)
			assertClose(t, "moving mean after inference", variableValue(t, ctx, "mean"), ref.MovingMean, c.tol)
		})
	}
}

// TestBatchNormBFloat16: bfloat16 activations with float32 variables.
func TestBatchNormBFloat16(t *testing.T) {
	ref := loadBNReference(t)
	ctx := bnContext(ref, dtypes.Float32)
	out, err := context.ExecOnce(tpu.ForTests(), ctx, func(ctx *context.Context, x *Node) *Node {
		ctx.SetTraining(x.Graph(), true)
		y := BatchNorm(ctx, ConvertDType(x, dtypes.BFloat16), BatchNormOptions{Momentum: ref.Momentum, Epsilon: ref.Epsilon})
		if y.DType() != dtypes.BFloat16 {
			t.Errorf("output dtype %s, want BFloat16", y.DType())
		}
		return ConvertDType(y, dtypes.Float32)
	}, toDType(ref.X, dtypes.Float32, ref.Shape...))
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "bfloat16 training output", flat64(t, out), ref.YTrain, 3e-2)
	if dt := ctx.GetVariableByScopeAndName(ctx.Scope(), "mean").MustValue().DType(); dt != dtypes.Float32 {
		t.Errorf("moving mean dtype %s, want Float32", dt)
	}
	assertClose(t, "bfloat16 moving mean", variableValue(t, ctx, "mean"), ref.NewMovingMean, 3e-2)
}

func TestBatchNormFrozen(t *testing.T) {
	ref := loadBNReference(t)
	ctx := bnContext(ref, dtypes.Float64)
	opts := BatchNormOptions{Momentum: ref.Momentum, Epsilon: ref.Epsilon, Frozen: true}
	outs, err := context.ExecOnceN(tpu.ForTests(), ctx, func(ctx *context.Context, x *Node) []*Node {
		g := x.Graph()
		ctx.SetTraining(g, true)
		y := BatchNorm(ctx, x, opts)
		loss := ReduceAllSum(Mul(y, y))
		scale := ctx.GetVariableByScopeAndName(ctx.Scope(), "scale").ValueGraph(g)
		offset := ctx.GetVariableByScopeAndName(ctx.Scope(), "offset").ValueGraph(g)
		return append([]*Node{y}, Gradient(loss, x, scale, offset)...)
	}, toDType(ref.X, dtypes.Float64, ref.Shape...))
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "frozen output (moving statistics)", flat64(t, outs[0]), ref.YInfer, 1e-12)
	assertClose(t, "frozen moving mean", variableValue(t, ctx, "mean"), ref.MovingMean, 0)
	for i, name := range []string{"scale", "offset"} {
		for _, g := range flat64(t, outs[2+i]) {
			if g != 0 {
				t.Errorf("frozen: gradient wrt %s is %v, want zeros", name, flat64(t, outs[2+i]))
				break
			}
		}
		if ctx.GetVariableByScopeAndName(ctx.Scope(), name).Trainable {
			t.Errorf("frozen: %s is still trainable", name)
		}
	}
	nonZero := false
	for _, g := range flat64(t, outs[1]) {
		nonZero = nonZero || g != 0
	}
	if !nonZero {
		t.Error("frozen: gradient wrt x is zero, want it to flow")
	}
}

// TestBatchNormTrainingGradient checks the training-mode gradient (through the batch mean and
// variance) against finite differences, wrt x, scale and offset.
func TestBatchNormTrainingGradient(t *testing.T) {
	checkGrad(t, "batch norm (training)", func(in []*Node) *Node {
		y, _, _ := batchNormTraining(in[0], in[1], in[2], 1e-3)
		return y
	}, gradcheck.RandomTensor(1, 2, 3, 3, 4), gradcheck.RandomTensor(2, 4), gradcheck.RandomTensor(3, 4))
	checkGrad(t, "batch norm (inference)", func(in []*Node) *Node {
		variance := AddScalar(Square(in[4]), 0.5)
		return batchNormInference(in[0], in[1], in[2], in[3], variance, 1e-3)
	}, gradcheck.RandomTensor(4, 3, 5, 2), gradcheck.RandomTensor(5, 2), gradcheck.RandomTensor(6, 2),
		gradcheck.RandomTensor(7, 2), gradcheck.RandomTensor(8, 2))
}

// TestBatchNormContextGradient ties the public, context-based BatchNorm to the gradient-checked
// batchNormTraining: in training mode, its gradients wrt x and the scale and offset variables
// must be those of batchNormTraining with the variables' values.
func TestBatchNormContextGradient(t *testing.T) {
	ref := loadBNReference(t)
	ctx := bnContext(ref, dtypes.Float64)
	weights := gradcheck.RandomTensor(9, ref.Shape...)
	outs, err := context.ExecOnceN(tpu.ForTests(), ctx, func(ctx *context.Context, x, w *Node) []*Node {
		g := x.Graph()
		ctx.SetTraining(g, true)
		loss := ReduceAllSum(Mul(BatchNorm(ctx, x, BatchNormOptions{Momentum: ref.Momentum, Epsilon: ref.Epsilon}), w))
		scale := ctx.GetVariableByScopeAndName(ctx.Scope(), "scale").ValueGraph(g)
		offset := ctx.GetVariableByScopeAndName(ctx.Scope(), "offset").ValueGraph(g)
		grads := Gradient(loss, x, scale, offset)

		y, _, _ := batchNormTraining(x, Const(g, ref.Scale), Const(g, ref.Offset), ref.Epsilon)
		direct := ReduceAllSum(Mul(y, w))
		return append(grads, Gradient(direct, x)...)
	}, toDType(ref.X, dtypes.Float64, ref.Shape...), weights)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "context gradient wrt x", flat64(t, outs[0]), flat64(t, outs[3]), 1e-12)

	// dL/dscale = Σ w·x̂ and dL/doffset = Σ w, computed here in plain Go.
	x, w := ref.X, flat64(t, weights)
	channels := ref.Shape[len(ref.Shape)-1]
	n := len(x) / channels
	wantScale, wantOffset := make([]float64, channels), make([]float64, channels)
	for c := range channels {
		var mean, variance float64
		for i := c; i < len(x); i += channels {
			mean += x[i] / float64(n)
		}
		for i := c; i < len(x); i += channels {
			variance += (x[i] - mean) * (x[i] - mean) / float64(n)
		}
		for i := c; i < len(x); i += channels {
			wantScale[c] += w[i] * (x[i] - mean) / math.Sqrt(variance+ref.Epsilon)
			wantOffset[c] += w[i]
		}
	}
	assertClose(t, "context gradient wrt scale", flat64(t, outs[1]), wantScale, 1e-12)
	assertClose(t, "context gradient wrt offset", flat64(t, outs[2]), wantOffset, 1e-12)
}

func TestBatchNormBadInput(t *testing.T) {
	good := BatchNormOptions{Momentum: 0.99, Epsilon: 1e-3}
	for _, c := range []struct {
		name, want string
		x          *tensors.Tensor
		opts       BatchNormOptions
	}{
		{"rank 1", "rank >= 2", tensors.FromValue([]float32{1, 2}), good},
		{"integers", "float tensor", tensors.FromValue([][]int32{{1, 2}}), good},
		{"zero epsilon", "Epsilon must be > 0", tensors.FromValue([][]float32{{1, 2}}), BatchNormOptions{Momentum: 0.9}},
		{"momentum > 1", "Momentum must be in [0, 1]", tensors.FromValue([][]float32{{1, 2}}), BatchNormOptions{Momentum: 1.5, Epsilon: 1e-3}},
	} {
		_, err := context.ExecOnce(tpu.ForTests(), context.New(), func(ctx *context.Context, x *Node) *Node {
			return BatchNorm(ctx, x, c.opts)
		}, c.x)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestBatchNormMovingAveragesInTrainer runs BatchNorm inside GoMLX's train.Trainer for 3 steps
// and checks that each step's moving-average update is written back and seen by the next step:
// after step k, mean = m·mean + (1-m)·batchMean(x_k) (likewise the biased variance), computed here
// in plain Go from the batches. BatchNorm is applied to the input itself, so the batch statistics
// do not depend on the weights the optimizer changes. An eval step must leave them unchanged.
func TestBatchNormMovingAveragesInTrainer(t *testing.T) {
	const batch, channels, momentum = 8, 3, 0.9
	ctx := context.New()
	opts := BatchNormOptions{Momentum: momentum, Epsilon: 1e-3}
	modelFn := func(ctx *context.Context, _ any, inputs []*Node) []*Node {
		y := BatchNorm(ctx.In("bn"), inputs[0], opts)
		return []*Node{layers.Dense(ctx.In("head"), y, true, 2)}
	}
	trainer := train.NewTrainer(tpu.ForTests(), ctx, modelFn, losses.SparseCategoricalCrossEntropyLogits,
		optimizers.Adam().LearningRate(0.1).Done(), nil, nil)

	wantMean, wantVar := make([]float64, channels), make([]float64, channels)
	for c := range channels {
		wantVar[c] = 1 // The moving averages' initial values.
	}
	labels := tensors.FromFlatDataAndDimensions(make([]int32, batch), batch, 1)
	bnValues := func() (mean, variance []float64) {
		bn := ctx.In("bn")
		return variableValue(t, bn, "mean"), variableValue(t, bn, "variance")
	}
	for step := range 3 {
		// Channel c of step k has mean ~ 2c-k+1 and a spread growing with c and k.
		xs := make([]float32, batch*channels)
		for i := range batch {
			for c := range channels {
				xs[i*channels+c] = float32(2*c-step+1) + float32((i*(c+step+1))%5)*0.3
			}
		}
		if _, err := trainer.TrainStep("train", []*tensors.Tensor{tensors.FromFlatDataAndDimensions(xs, batch, channels)},
			[]*tensors.Tensor{labels}); err != nil {
			t.Fatal(err)
		}
		for c := range channels {
			var m, v float64
			for i := range batch {
				m += float64(xs[i*channels+c]) / batch
			}
			for i := range batch {
				d := float64(xs[i*channels+c]) - m
				v += d * d / (batch - 1) // The moving variance accumulates the unbiased estimate.
			}
			wantMean[c] = momentum*wantMean[c] + (1-momentum)*m
			wantVar[c] = momentum*wantVar[c] + (1-momentum)*v
		}
		mean, variance := bnValues()
		assertClose(t, fmt.Sprintf("moving mean after step %d", step+1), mean, wantMean, 1e-5)
		assertClose(t, fmt.Sprintf("moving variance after step %d", step+1), variance, wantVar, 1e-5)
	}
	trainedMean, trainedVariance := bnValues()
	x := tensors.FromFlatDataAndDimensions(make([]float32, batch*channels), batch, channels)
	if _, err := trainer.EvalStep("eval", []*tensors.Tensor{x}, []*tensors.Tensor{labels}); err != nil {
		t.Fatal(err)
	}
	mean, variance := bnValues()
	assertClose(t, "moving mean after an eval step", mean, trainedMean, 0)
	assertClose(t, "moving variance after an eval step", variance, trainedVariance, 0)
}

// TestBatchNormGradientOpCount: BatchNorm's forward + gradient graph (training mode, wrt x, scale
// and offset) has the same number of nodes for 4 and 64 channels.
func TestBatchNormGradientOpCount(t *testing.T) {
	sizes := map[int]int{}
	for _, channels := range []int{4, 64} {
		g := NewGraph(tpu.ForTests(), "bn_opcount")
		ctx := context.New()
		err := tryBuild(func() {
			ctx.SetTraining(g, true)
			x := Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 5, 5, channels))
			y := BatchNorm(ctx, x, EfficientNetBatchNorm)
			scale := ctx.GetVariableByScopeAndName(ctx.Scope(), "scale").ValueGraph(g)
			offset := ctx.GetVariableByScopeAndName(ctx.Scope(), "offset").ValueGraph(g)
			Gradient(ReduceAllSum(Square(y)), x, scale, offset)
			sizes[channels] = len(g.Nodes())
		})
		g.Finalize()
		if err != nil {
			t.Fatalf("C=%d: %v", channels, err)
		}
	}
	if sizes[4] != sizes[64] {
		t.Errorf("BatchNorm gradient graph has %d nodes for C=4 but %d for C=64", sizes[4], sizes[64])
	}
	t.Logf("batch norm: %d nodes for forward+gradient", sizes[4])
}
