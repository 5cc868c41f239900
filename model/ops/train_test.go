package ops

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/metrics"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
	"github.com/supcon-go/supcon/tpu"
)

const (
	patternSize    = 16
	patternClasses = 3
)

// patternBatch returns n noisy 16x16 one-channel images [n,16,16,1] and labels [n,1]: class 0
// has horizontal stripes, 1 vertical stripes, 2 a checkerboard, each of period 4 with a random
// phase. Every class has the same mean intensity, so only spatial structure tells them apart.
func patternBatch(rng *rand.Rand, n int) (images, labels *tensors.Tensor) {
	pixels := make([]float32, n*patternSize*patternSize)
	classes := make([]int32, n)
	for b := range n {
		class := rng.IntN(patternClasses)
		classes[b] = int32(class)
		dy, dx := rng.IntN(4), rng.IntN(4)
		for y := range patternSize {
			for x := range patternSize {
				row, col := (y+dy)/2%2, (x+dx)/2%2
				on := [patternClasses]int{row, col, row ^ col}[class]
				pixels[(b*patternSize+y)*patternSize+x] = float32(on) - 0.5 + float32(rng.NormFloat64()*0.3)
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(pixels, n, patternSize, patternSize, 1),
		tensors.FromFlatDataAndDimensions(classes, n, 1)
}

// tinyConvNet is a miniature EfficientNet block stack built from this package's ops:
// Conv+BatchNorm+swish stem, depthwise Conv+BatchNorm+swish, pointwise projection+BatchNorm,
// global average pooling and a dense classifier.
func tinyConvNet(ctx *context.Context, _ any, inputs []*Node) []*Node {
	g := inputs[0].Graph()
	kernel := func(scope string, dims ...int) *Node {
		c := ctx.In(scope).WithInitializer(initializers.HeFn(ctx))
		return c.VariableWithShape("kernel", shapes.Make(dtypes.Float32, dims...)).ValueGraph(g)
	}
	// Momentum 0.9 (not EfficientNet's 0.99) so the moving averages settle within the test's few steps.
	bn := BatchNormOptions{Momentum: 0.9, Epsilon: 1e-3}
	x := Conv(inputs[0], kernel("stem", 3, 3, 1, 16), 2, SamePadding) // [B, 8, 8, 16]
	x = activations.Swish(BatchNorm(ctx.In("stem_bn"), x, bn))
	x = Depthwise(x, kernel("depthwise", 3, 3, 1, 16), 1, SamePadding)
	x = activations.Swish(BatchNorm(ctx.In("depthwise_bn"), x, bn))
	x = Pointwise(x, kernel("project", 16, 24))
	x = BatchNorm(ctx.In("project_bn"), x, bn)
	x = ReduceMean(x, 1, 2) // Global average pooling: [B, 24].
	return []*Node{layers.Dense(ctx.In("head"), x, true, patternClasses)}
}

// TestTrainTinyConvNet is the end-to-end check that the ops and gradients of this package train
// a convnet on the default (SimpleGo) backend: the training loss must fall below half its
// initial value, and so must the eval loss (inference mode, moving batch-norm statistics), with
// the eval accuracy at least 90%.
func TestTrainTinyConvNet(t *testing.T) {
	backend := tpu.ForTests()
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(42); err != nil { // Deterministic initial weights.
		t.Fatal(err)
	}
	ctx.SetParam(optimizers.ParamLearningRate, 0.01)
	trainer := train.NewTrainer(backend, ctx, tinyConvNet, losses.SparseCategoricalCrossEntropyLogits,
		optimizers.Adam().Done(), nil,
		[]metrics.Interface{metrics.NewSparseCategoricalAccuracy("accuracy", "acc")})

	rng := rand.New(rand.NewPCG(42, 1))
	evalImages, evalLabels := patternBatch(rng, 48)
	// evaluate returns the eval loss and accuracy on the fixed eval batch, in inference mode.
	evaluate := func() (loss, accuracy float64) {
		for _, metric := range trainer.EvalMetrics() { // Eval metrics are running means: restart them.
			metric.Reset(ctx.Checked(false))
		}
		m, err := trainer.EvalStep("eval", []*tensors.Tensor{evalImages}, []*tensors.Tensor{evalLabels})
		if err != nil {
			t.Fatal(err)
		}
		return float64(tensors.ToScalar[float32](m[0])), float64(tensors.ToScalar[float32](m[len(m)-1]))
	}
	initialEval, initialAccuracy := evaluate()

	const steps, batch = 40, 32
	var first, last float64
	for step := range steps {
		images, labels := patternBatch(rng, batch)
		m, err := trainer.TrainStep("train", []*tensors.Tensor{images}, []*tensors.Tensor{labels})
		if err != nil {
			t.Fatal(err)
		}
		loss := float64(tensors.ToScalar[float32](m[0])) // Batch loss, before this step's update.
		if step == 0 {
			first = loss
		}
		if step >= steps-5 {
			last += loss / 5
		}
	}
	finalEval, finalAccuracy := evaluate()
	t.Logf("train loss %.3f -> %.3f (mean of last 5 steps); eval loss %.3f -> %.3f, accuracy %.2f -> %.2f",
		first, last, initialEval, finalEval, initialAccuracy, finalAccuracy)
	if !(last < 0.5*first) {
		t.Errorf("training loss %.3f -> %.3f: did not fall below half", first, last)
	}
	if !(finalEval < 0.5*initialEval) {
		t.Errorf("eval loss %.3f -> %.3f: did not fall below half", initialEval, finalEval)
	}
	if finalAccuracy < 0.9 {
		t.Errorf("eval accuracy %.2f after training, want >= 0.9", finalAccuracy)
	}
}
