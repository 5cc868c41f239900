package model

import (
	"math"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func randomFeatures(batch, dim int) *tensors.Tensor {
	return referenceImages([]int{batch, dim})
}

// runHead executes head on features and returns its output; training selects the graph mode.
func runHead(t *testing.T, ctx *context.Context, training bool, features *tensors.Tensor,
	head func(ctx *context.Context, x *Node) *Node) (*tensors.Tensor, error) {
	t.Helper()
	exec, err := context.NewExec(testBackend(), ctx.Checked(false), func(ctx *context.Context, x *Node) *Node {
		ctx.SetTraining(x.Graph(), training)
		return head(ctx, x)
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	out, err := exec.Exec(features)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

func varShape(ctx *context.Context, scope, name string) []int {
	v := ctx.GetVariableByScopeAndName(scope, name)
	if v == nil {
		return nil
	}
	return v.Shape().Dimensions
}

func TestProjectionHead(t *testing.T) {
	features := randomFeatures(3, 24)
	for _, mlp := range []bool{false, true} {
		ctx := context.New()
		ctx.SetParams(DefaultParams())
		ctx.SetParam(ParamProjectionMLP, mlp)
		out, err := runHead(t, ctx, true, features, ProjectionHeadFromContext)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.Shape().Dimensions, []int{3, 128}) {
			t.Errorf("mlp=%v: projection %s, want [3 128]", mlp, out.Shape())
		}
		want := map[string][]int{"/projection/dense:weights": {24, 128}, "/projection/dense:biases": {128}}
		if mlp {
			want = map[string][]int{"/projection/hidden:weights": {24, 2048}, "/projection/hidden:biases": {2048},
				"/projection/dense:weights": {2048, 128}, "/projection/dense:biases": {128}}
		}
		if n := len(slices.Collect(ctx.In(ProjectionScope).IterVariablesInScope())); n != len(want) {
			t.Errorf("mlp=%v: %d projection variables, want %d", mlp, n, len(want))
		}
		for key, dims := range want {
			scope, name, _ := strings.Cut(key, ":")
			if got := varShape(ctx, scope, name); !slices.Equal(got, dims) {
				t.Errorf("mlp=%v: %s shape %v, want %v", mlp, key, got, dims)
			}
		}
		// The article's head ends in relu; the paper's MLP ends linear (negative values expected).
		negatives := 0
		for _, v := range tensors.MustCopyFlatData[float32](out) {
			if v < 0 {
				negatives++
			}
		}
		if !mlp && negatives > 0 {
			t.Errorf("Dense+relu projection has %d negative values", negatives)
		}
		if mlp && negatives == 0 {
			t.Error("MLP projection ends in a linear layer but has no negative value")
		}
	}
}

func TestClassifierHead(t *testing.T) {
	features := randomFeatures(4, 40)
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(3); err != nil {
		t.Fatal(err)
	}
	head := func(ctx *context.Context, x *Node) *Node { return ClassifierHead(ctx, x, 5) }
	first, err := runHead(t, ctx, false, features, head)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first.Shape().Dimensions, []int{4, 5}) {
		t.Fatalf("logits %s, want [4 5]", first.Shape())
	}
	for key, dims := range map[string][]int{"/classifier/hidden:weights": {40, 1000}, "/classifier/hidden:biases": {1000},
		"/classifier/output:weights": {1000, 5}, "/classifier/output:biases": {5}} {
		scope, name, _ := strings.Cut(key, ":")
		if got := varShape(ctx, scope, name); !slices.Equal(got, dims) {
			t.Errorf("%s shape %v, want %v", key, got, dims)
		}
	}
	values := func(x *tensors.Tensor) []float32 { return tensors.MustCopyFlatData[float32](x) }
	again, err := runHead(t, ctx, false, features, head)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(values(first), values(again)) {
		t.Error("inference logits are not deterministic: dropout applied outside training?")
	}
	training, err := runHead(t, ctx, true, features, head)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(values(first), values(training)) {
		t.Error("training logits equal inference logits: dropout 0.5 not applied")
	}
	ctx.SetParam(ParamClassifierDropout, 0.0)
	noDropout, err := runHead(t, ctx, true, features, head)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(values(first), values(noDropout)) {
		t.Error("with classifier_dropout=0 training logits differ from inference")
	}

	for _, c := range []struct {
		head func(ctx *context.Context, x *Node) *Node
		want string
	}{
		{func(ctx *context.Context, x *Node) *Node { return ClassifierHead(ctx, x, 0) }, "number of classes"},
		{func(ctx *context.Context, x *Node) *Node { return ClassifierHead(ctx, InsertAxes(x, 0), 3) }, "features must be"},
		{func(ctx *context.Context, x *Node) *Node { return ProjectionHead(ctx, InsertAxes(x, 0), false) }, "features must be"},
	} {
		if _, err := runHead(t, context.New(), false, features, c.head); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error = %v, want one containing %q", err, c.want)
		}
	}
}

// TestHeadsInitialisation: the heads start as the article's Keras Dense layers, Glorot-uniform
// weights in ±sqrt(6/(fan_in+fan_out)) and zero biases, whatever the context's initializer (here
// GoMLX's default He-normal, whose std sqrt(2/fan_in) puts values well outside the Glorot bound).
func TestHeadsInitialisation(t *testing.T) {
	const features = 1536 // B3
	ctx := context.New()
	if err := ctx.SetRNGStateFromSeed(5); err != nil {
		t.Fatal(err)
	}
	ctx.SetParams(DefaultParams())
	ctx.SetParam(ParamProjectionMLP, true)
	for _, head := range []func(ctx *context.Context, x *Node) *Node{
		ProjectionHeadFromContext,
		func(ctx *context.Context, x *Node) *Node { return ClassifierHead(ctx, x, 5) },
	} {
		if _, err := runHead(t, ctx, false, randomFeatures(2, features), head); err != nil {
			t.Fatal(err)
		}
	}
	checked := 0
	for _, scope := range []string{ProjectionScope, ClassifierScope} {
		for v := range ctx.In(scope).IterVariablesInScope() {
			values := tensors.MustCopyFlatData[float32](v.MustValue())
			dims := v.Shape().Dimensions
			if v.Name() == "biases" {
				for i, x := range values {
					if x != 0 {
						t.Fatalf("%s[%d] = %g, want zero biases", v.ScopeAndName(), i, x)
					}
				}
				continue
			}
			limit := math.Sqrt(6 / float64(dims[0]+dims[1]))
			sumSquares, largest := 0.0, 0.0
			for _, x := range values {
				sumSquares += float64(x) * float64(x)
				largest = max(largest, math.Abs(float64(x)))
			}
			// Uniform in ±limit: std limit/sqrt(3), and (with >= 640 values) some close to the bound.
			std, wantStd := math.Sqrt(sumSquares/float64(len(values))), limit/math.Sqrt(3)
			if largest > limit || largest < 0.95*limit || math.Abs(std-wantStd) > 0.1*wantStd {
				t.Errorf("%s %v: max |w| %.4g, std %.4g; Glorot uniform: bound %.4g, std %.4g",
					v.ScopeAndName(), dims, largest, std, limit, wantStd)
			}
			checked++
		}
	}
	if checked != 4 {
		t.Errorf("checked %d weight matrices, want 4 (projection hidden/dense, classifier hidden/output)", checked)
	}
}
