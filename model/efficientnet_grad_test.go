package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestEncoderGradient compares the whole tiny encoder's reverse-mode gradients (training mode:
// batch statistics; SE, swish, residuals, pooling) with float64 central finite differences, with
// respect to the images and to weights of every kind (gradcheck.Check cannot do this: it feeds
// only graph inputs, not context variables).
func TestEncoderGradient(t *testing.T) {
	// Training needs more than a 2-sample, 1x1 batch at the last stages: batch norm over 2 values
	// is so sharp there that finite differences only converge for steps below 1e-8.
	t.Run("inference_2x16x16", func(t *testing.T) { checkEncoderGradient(t, false, []int{2, 16, 16, 3}) })
	t.Run("training_4x32x32", func(t *testing.T) { checkEncoderGradient(t, true, []int{4, 32, 32, 3}) })
}

func checkEncoderGradient(t *testing.T, training bool, dims []int) {
	cfg := tinyConfig(t)
	cfg.DType, cfg.DropConnect, cfg.Dropout = dtypes.Float64, 0, 0
	ctx := context.New()
	buildOnly(t, testBackend(), ctx, cfg, dims...)
	setReferenceValues(t, ctx)
	rng := rand.New(rand.NewPCG(5, 6))
	projection := make([]float64, dims[0]*cfg.HeadChannels())
	for i := range projection {
		projection[i] = rng.Float64()*2 - 1
	}
	probed := []string{"stem/conv/weights", "stage1/block0/se/expand/biases", "stage2/block0/expand/conv/weights",
		"stage4/block1/se/reduce/weights", "stage5/block1/depthwise/conv/weights", "stage6/block0/depthwise/bn/scale",
		"stage7/block0/project/bn/offset", "head/conv/weights"}
	vars := make([]*context.Variable, len(probed))
	for i, name := range probed {
		cut := strings.LastIndex(name, "/")
		if vars[i] = ctx.GetVariableByScopeAndName("/encoder/"+name[:cut], name[cut+1:]); vars[i] == nil {
			t.Fatalf("no variable %s", name)
		}
	}

	lossOf := func(ctx *context.Context, images *Node) *Node {
		g := images.Graph()
		ctx.SetTraining(g, training)
		w := Const(g, tensors.FromFlatDataAndDimensions(projection, dims[0], cfg.HeadChannels()))
		return ReduceAllSum(Mul(Encoder(ctx, cfg, images), w))
	}
	forward, err := context.NewExec(testBackend(), ctx.Reuse(), lossOf)
	if err != nil {
		t.Fatal(err)
	}
	defer forward.Finalize()
	backward, err := context.NewExec(testBackend(), ctx.Reuse(), func(ctx *context.Context, images *Node) []*Node {
		wrt := []*Node{images}
		for _, v := range vars {
			wrt = append(wrt, v.ValueGraph(images.Graph()))
		}
		return Gradient(lossOf(ctx, images), wrt...)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer backward.Finalize()

	imageData := make([]float64, dims[0]*dims[1]*dims[2]*dims[3])
	for i, v := range splitmix(0, len(imageData)) {
		imageData[i] = v
	}
	images := func() *tensors.Tensor { return tensors.FromFlatDataAndDimensions(imageData, dims...) }
	loss := func() float64 {
		out, err := forward.Exec(images())
		if err != nil {
			t.Fatal(err)
		}
		return out[0].Value().(float64)
	}
	grads, err := backward.Exec(images())
	if err != nil {
		t.Fatal(err)
	}

	const eps = 1e-6
	check := func(what string, analytic float64, set func(delta float64)) {
		set(eps)
		plus := loss()
		set(-2 * eps)
		minus := loss()
		set(eps)
		numeric := (plus - minus) / (2 * eps)
		if diff := math.Abs(numeric - analytic); diff > 1e-5+1e-4*math.Abs(numeric) {
			t.Errorf("%s: gradient %.9g, finite difference %.9g", what, analytic, numeric)
		}
	}
	imageGrad := tensors.MustCopyFlatData[float64](grads[0])
	for range 6 {
		i := rng.IntN(len(imageData))
		check("images", imageGrad[i], func(d float64) { imageData[i] += d })
	}
	for k, v := range vars {
		grad := tensors.MustCopyFlatData[float64](grads[k+1])
		value := tensors.MustCopyFlatData[float64](v.MustValue())
		for range 3 {
			i := rng.IntN(len(value))
			check(probed[k], grad[i], func(d float64) {
				value[i] += d
				v.MustSetValue(tensors.FromFlatDataAndDimensions(value, v.Shape().Dimensions...))
			})
		}
	}
}
