package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/pkg/errors"
	"github.com/supcon-go/supcon/tpu"
)

// testBackend is the one backend of the package's tests: tensors cannot move between backend
// instances, and tpu.ForTests makes a new one per call.
var testBackend = sync.OnceValue(tpu.ForTests)

// reference is testdata/efficientnet_reference.json, written by efficientnet_reference.py from
// torchvision.
type reference struct {
	Architectures map[string]struct {
		Stem          int   `json:"stem"`
		Head          int   `json:"head"`
		StageOut      []int `json:"stage_out"`
		Repeats       []int `json:"repeats"`
		PartTrainable []int `json:"part_trainable"`
		PartBNStats   []int `json:"part_bn_stats"`
		Trainable     int   `json:"trainable"`
		BNStats       int   `json:"bn_stats"`
	} `json:"architectures"`
	Tiny struct {
		Width              float64     `json:"width"`
		Depth              float64     `json:"depth"`
		Images             []int       `json:"images"`
		SymmetricInference [][]float64 `json:"symmetric_inference"`
		SymmetricTraining  [][]float64 `json:"symmetric_training"`
		SameInference      [][]float64 `json:"same_inference"`
	} `json:"tiny"`
}

func loadReference(t testing.TB) *reference {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "efficientnet_reference.json"))
	if err != nil {
		t.Fatalf("reading the torchvision reference (regenerate with testdata/efficientnet_reference.py): %v", err)
	}
	ref := &reference{}
	if err := json.Unmarshal(raw, ref); err != nil {
		t.Fatalf("parsing testdata/efficientnet_reference.json: %v", err)
	}
	return ref
}

// tinyConfig is the tiny network of the tests (10 blocks, 8..80 channels, 320 features).
func tinyConfig(t testing.TB) Config {
	t.Helper()
	cfg, err := CustomConfig(0.25, 0.34)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// buildOnly builds (without compiling or running) the encoder of cfg into ctx for images of the
// given dimensions, so its variables exist, and returns the features' shape.
func buildOnly(t testing.TB, backend backends.Backend, ctx *context.Context, cfg Config, dims ...int) shapes.Shape {
	t.Helper()
	g := NewGraph(backend, "build_only")
	defer g.Finalize()
	var out shapes.Shape
	err := TryCatch[error](func() {
		out = Encoder(ctx, cfg, Parameter(g, "images", shapes.Make(cfg.DType, dims...))).Shape()
	})
	if err != nil {
		t.Fatalf("building %s: %v", cfg, err)
	}
	return out
}

// TryCatch runs fn and returns the error it panicked with, if any.
func TryCatch[E error](fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
				return
			}
			panic(r)
		}
	}()
	fn()
	return nil
}

// splitmix is the deterministic generator shared with efficientnet_reference.py: value i of key
// is uniform in [-1, 1), exactly the same in numpy's uint64 arithmetic and Go's.
func splitmix(key uint64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		z := key*1000003 + uint64(i) + 0x9E3779B97F4A7C15
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		z ^= z >> 31
		out[i] = float64(z>>40)/float64(1<<24)*2 - 1
	}
	return out
}

// referenceSeed is efficientnet_reference.py's seed(name).
func referenceSeed(name string) uint64 {
	s := 0
	for j := range len(name) {
		s += (j + 1) * int(name[j])
	}
	return uint64(s % 997)
}

// referenceValues are efficientnet_reference.py's values(name, dims), in our layout.
func referenceValues(name string, dims []int) []float32 {
	n := 1
	for _, d := range dims {
		n *= d
	}
	base := splitmix(referenceSeed(name), n)
	kind := name[strings.LastIndex(name, "/")+1:]
	out := make([]float32, n)
	for i, b := range base {
		var v float64
		switch kind {
		case "weights":
			fanIn := n / dims[len(dims)-1]
			v = b * math.Sqrt(6.0/float64(fanIn))
		case "scale":
			v = 1 + 0.2*b
		case "variance":
			v = 1 + 0.5*b
		default:
			v = 0.1 * b
		}
		out[i] = float32(v)
	}
	return out
}

// setReferenceValues gives every encoder variable of ctx its reference value.
func setReferenceValues(t testing.TB, ctx *context.Context) {
	t.Helper()
	prefix := "/" + EncoderScope + "/"
	count := 0
	for v := range ctx.IterVariables() {
		if !strings.HasPrefix(v.Scope(), prefix) {
			continue
		}
		name := strings.TrimPrefix(v.Scope(), prefix) + "/" + v.Name()
		dims := v.Shape().Dimensions
		values := referenceValues(name, dims)
		if v.DType() == dtypes.Float64 {
			wide := make([]float64, len(values))
			for i, x := range values {
				wide[i] = float64(x)
			}
			v.MustSetValue(tensors.FromFlatDataAndDimensions(wide, dims...))
		} else {
			v.MustSetValue(tensors.FromFlatDataAndDimensions(values, dims...))
		}
		count++
	}
	if count == 0 {
		t.Fatal("no encoder variables to set")
	}
}

// referenceImages are efficientnet_reference.py's images(dims), NHWC.
func referenceImages(dims []int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	flat := make([]float32, n)
	for i, v := range splitmix(0, n) {
		flat[i] = float32(v)
	}
	return tensors.FromFlatDataAndDimensions(flat, dims...)
}

// runEncoder executes the encoder of cfg on images with ctx's current variables; training selects
// the training graph. ctx must already hold the variables (see buildOnly).
func runEncoder(t testing.TB, ctx *context.Context, cfg Config, training bool, images *tensors.Tensor) [][]float32 {
	t.Helper()
	exec, err := context.NewExec(testBackend(), ctx.Reuse(), func(ctx *context.Context, images *Node) *Node {
		ctx.SetTraining(images.Graph(), training)
		features := Encoder(ctx, cfg, images)
		if features.DType() != cfg.DType {
			panic(errors.Errorf("features dtype %s, want the compute dtype %s", features.DType(), cfg.DType))
		}
		return ConvertDType(features, dtypes.Float32)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Exec(images)
	if err != nil {
		t.Fatalf("running %s: %v", cfg, err)
	}
	return toFloat32Matrix(t, out[0])
}

func toFloat32Matrix(t testing.TB, x *tensors.Tensor) [][]float32 {
	t.Helper()
	if x.Rank() != 2 {
		t.Fatalf("want a matrix, got %s", x.Shape())
	}
	dims := x.Shape().Dimensions
	flat := tensors.MustCopyFlatData[float32](x)
	out := make([][]float32, dims[0])
	for i := range out {
		out[i] = flat[i*dims[1] : (i+1)*dims[1]]
	}
	return out
}

// maxAbsDiff is the largest |a-b| over matching elements; it fails on mismatched shapes.
func maxAbsDiff[A, B float32 | float64](t testing.TB, a [][]A, b [][]B) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d rows vs %d", len(a), len(b))
	}
	worst := 0.0
	for i := range a {
		if len(a[i]) != len(b[i]) {
			t.Fatalf("row %d: %d columns vs %d", i, len(a[i]), len(b[i]))
		}
		for j := range a[i] {
			d := math.Abs(float64(a[i][j]) - float64(b[i][j]))
			if math.IsNaN(d) {
				return math.Inf(1)
			}
			worst = max(worst, d)
		}
	}
	return worst
}
