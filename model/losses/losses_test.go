package losses

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/supcon-go/supcon/model/gradcheck"
	"github.com/supcon-go/supcon/tpu"
)

// refCase is one case of testdata/reference.json (written by testdata/reference.py).
type refCase struct {
	Name            string    `json:"name"`
	Loss            string    `json:"loss"` // supcon, npairs or cross_entropy.
	Dims            []int     `json:"dims"`
	Features        []float64 `json:"features"` // features, or logits for cross_entropy.
	Labels          []int32   `json:"labels"`   // nil: SimCLR.
	Temperature     float64   `json:"temperature"`
	BaseTemperature float64   `json:"base_temperature"`
	ContrastMode    string    `json:"contrast_mode"`
	LabelSmoothing  float64   `json:"label_smoothing"`
	Expected        float64   `json:"expected"`
}

const referencePath = "testdata/reference.json"

func readReference(t *testing.T, path string) []refCase {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ Cases []refCase }
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(ref.Cases) == 0 {
		t.Fatalf("%s has no cases", path)
	}
	return ref.Cases
}

// lossFn returns the graph of the case's loss; inputs are the features and, unless the case
// has no labels, the labels.
func (c refCase) lossFn(t *testing.T) func(inputs []*Node) *Node {
	return func(inputs []*Node) *Node {
		var labels *Node
		if len(inputs) > 1 {
			labels = inputs[1]
		}
		switch c.Loss {
		case "supcon":
			mode, err := ParseContrastMode(c.ContrastMode)
			if err != nil {
				t.Fatal(err)
			}
			return SupCon(inputs[0], labels, SupConOptions{
				Temperature: c.Temperature, BaseTemperature: c.BaseTemperature, ContrastMode: mode})
		case "npairs":
			return NPairs(inputs[0], labels, c.Temperature)
		case "cross_entropy":
			return CrossEntropy(inputs[0], labels, c.LabelSmoothing)
		}
		t.Fatalf("case %s: unknown loss %q", c.Name, c.Loss)
		return nil
	}
}

// run evaluates the case with features in the given dtype.
func (c refCase) run(t *testing.T, dtype dtypes.DType) float64 {
	t.Helper()
	args := []any{featuresTensor(c.Features, c.Dims, dtype)}
	if c.Labels != nil {
		args = append(args, tensors.FromFlatDataAndDimensions(c.Labels, len(c.Labels)))
	}
	exe, err := NewExec(tpu.ForTests(), c.lossFn(t))
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Finalize()
	out, err := exe.Exec(args...)
	if err != nil {
		t.Fatalf("case %s: %v", c.Name, err)
	}
	return scalar(out[0])
}

func featuresTensor(flat []float64, dims []int, dtype dtypes.DType) *tensors.Tensor {
	if dtype == dtypes.Float32 {
		f32 := make([]float32, len(flat))
		for i, x := range flat {
			f32[i] = float32(x)
		}
		return tensors.FromFlatDataAndDimensions(f32, dims...)
	}
	return tensors.FromFlatDataAndDimensions(append([]float64(nil), flat...), dims...)
}

func scalar(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	panic("not a float scalar: " + t.Shape().String())
}

func TestReferenceValues(t *testing.T) {
	for _, c := range readReference(t, referencePath) {
		t.Run(c.Name, func(t *testing.T) {
			// float64 must match to 1e-5; float32 (which also exercises the overflow guards, e.g.
			// exp(2/0.01) in supcon_small_temperature) to float32 accuracy.
			for _, tc := range []struct {
				dtype dtypes.DType
				tol   float64
			}{{dtypes.Float64, 1e-5}, {dtypes.Float32, 1e-4}} {
				got := c.run(t, tc.dtype)
				if math.Abs(got-c.Expected) > tc.tol*(1+math.Abs(c.Expected)) {
					t.Errorf("%s: got %.10g, reference %.10g", tc.dtype, got, c.Expected)
				}
			}
		})
	}
}

// TestReferenceScriptReproduces re-runs testdata/reference.py, so reference.json cannot drift
// from the script that documents it.
func TestReferenceScriptReproduces(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import numpy").Run(); err != nil {
		t.Skipf("%s with numpy not available (Debian's python3-numpy): %v", python, err)
	}
	out := filepath.Join(t.TempDir(), "reference.json")
	if msg, err := exec.Command(python, "testdata/reference.py", out).CombinedOutput(); err != nil {
		t.Fatalf("reference.py: %v\n%s", err, msg)
	}
	fresh, committed := readReference(t, out), readReference(t, referencePath)
	if len(fresh) != len(committed) {
		t.Fatalf("reference.py writes %d cases, %s has %d", len(fresh), referencePath, len(committed))
	}
	for i := range fresh {
		a, b := fresh[i], committed[i]
		if a.Name != b.Name || len(a.Features) != len(b.Features) || math.Abs(a.Expected-b.Expected) > 1e-12 {
			t.Errorf("case %d: script gives %s = %.15g, committed %s = %.15g", i, a.Name, a.Expected, b.Name, b.Expected)
			continue
		}
		for j := range a.Features {
			if a.Features[j] != b.Features[j] {
				t.Errorf("case %s: input %d differs: %g vs %g", a.Name, j, a.Features[j], b.Features[j])
				break
			}
		}
	}
}

// supconCases are the configurations the gradient and invariance tests go through.
var supconCases = []struct {
	name    string
	b, v, d int
	labels  []int32 // nil: SimCLR.
	opts    SupConOptions
}{
	{"all_v2", 6, 2, 4, []int32{0, 1, 0, 2, 1, 0}, SupConOptions{}},
	{"one_v3", 4, 3, 3, []int32{1, 1, 0, 0}, SupConOptions{ContrastMode: ContrastOne, Temperature: 0.5}},
	{"simclr_v2", 4, 2, 4, nil, SupConOptions{Temperature: 0.07}},
	{"singletons_v1", 6, 1, 3, []int32{0, 0, 1, 2, 2, 3}, SupConOptions{Temperature: 0.2, BaseTemperature: 0.07}},
}

func supconFn(labels []int32, opts SupConOptions) func([]*Node) *Node {
	return func(x []*Node) *Node {
		var l *Node
		if labels != nil {
			l = Const(x[0].Graph(), labels)
		}
		return SupCon(x[0], l, opts)
	}
}

func TestGradients(t *testing.T) {
	backend := tpu.ForTests()
	check := func(name string, fn func([]*Node) *Node, input *tensors.Tensor) {
		t.Run(name, func(t *testing.T) {
			rep, err := gradcheck.Check(backend, fn, []*tensors.Tensor{input}, gradcheck.Options{Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d probes, max abs err %.3g", rep.Probes, rep.MaxAbsErr)
		})
	}
	for i, c := range supconCases {
		check("supcon_"+c.name, supconFn(c.labels, c.opts), gradcheck.RandomTensor(uint64(i+1), c.b, c.v, c.d))
	}
	check("npairs", func(x []*Node) *Node {
		return NPairs(x[0], Const(x[0].Graph(), []int32{2, 0, 2, 1, 0, 2}), DefaultTemperature)
	}, gradcheck.RandomTensor(11, 6, 5))
	for _, ls := range []float64{0, 0.1} {
		check("cross_entropy_"+map[bool]string{false: "plain", true: "smoothing"}[ls > 0], func(x []*Node) *Node {
			return CrossEntropy(x[0], Const(x[0].Graph(), []int32{4, 0, 2, 2, 1}), ls)
		}, gradcheck.RandomTensor(12, 5, 5))
	}
}

// lossAndGrad evaluates fn on x (float64) and its gradient wrt x.
func lossAndGrad(t *testing.T, fn func([]*Node) *Node, x *tensors.Tensor) (float64, []float64) {
	t.Helper()
	// Not ExecOnceN: its type constraint in v0.26.0 only admits single-output functions.
	exe, err := NewExec(tpu.ForTests(), func(x *Node) []*Node {
		loss := fn([]*Node{x})
		return []*Node{loss, Gradient(loss, x)[0]}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Finalize()
	out, err := exe.Exec(x)
	if err != nil {
		t.Fatal(err)
	}
	return scalar(out[0]), tensors.MustCopyFlatData[float64](out[1])
}

func lossOf(t *testing.T, fn func([]*Node) *Node, x *tensors.Tensor) float64 {
	loss, _ := lossAndGrad(t, fn, x)
	return loss
}

// rows splits the flat data of a [B, ...] tensor into B rows.
func rows(x *tensors.Tensor) [][]float64 {
	flat := tensors.MustCopyFlatData[float64](x)
	b := x.Shape().Dimensions[0]
	out := make([][]float64, b)
	for i := range out {
		out[i] = flat[i*len(flat)/b : (i+1)*len(flat)/b]
	}
	return out
}

func fromRows(rs [][]float64, dims []int) *tensors.Tensor {
	var flat []float64
	for _, r := range rs {
		flat = append(flat, r...)
	}
	return tensors.FromFlatDataAndDimensions(flat, dims...)
}

// TestInvariances: the losses depend on the directions of the features only, and on the batch
// as a set.
func TestInvariances(t *testing.T) {
	type lossCase struct {
		name   string
		fn     func(labels []int32) func([]*Node) *Node
		x      *tensors.Tensor
		labels []int32
	}
	var cases []lossCase
	for i, c := range supconCases {
		cases = append(cases, lossCase{"supcon_" + c.name, func(l []int32) func([]*Node) *Node {
			if c.labels == nil {
				return supconFn(nil, c.opts)
			}
			return supconFn(l, c.opts)
		}, gradcheck.RandomTensor(uint64(100+i), c.b, c.v, c.d), c.labels})
	}
	cases = append(cases, lossCase{"npairs", func(l []int32) func([]*Node) *Node {
		return func(x []*Node) *Node { return NPairs(x[0], Const(x[0].Graph(), l), DefaultTemperature) }
	}, gradcheck.RandomTensor(200, 6, 5), []int32{2, 0, 2, 1, 0, 2}})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dims := c.x.Shape().Dimensions
			base := lossOf(t, c.fn(c.labels), c.x)
			if math.IsNaN(base) || base <= 0 {
				t.Fatalf("loss %g, want a positive number", base)
			}
			// Scale the first and last feature vectors (of every view) by positive factors.
			rs := rows(c.x)
			d := dims[len(dims)-1]
			for j := 0; j < d; j++ {
				rs[0][j] *= 3.7
			}
			for j := len(rs[len(rs)-1]) - d; j < len(rs[len(rs)-1]); j++ {
				rs[len(rs)-1][j] *= 0.02
			}
			if got := lossOf(t, c.fn(c.labels), fromRows(rs, dims)); math.Abs(got-base) > 1e-12*(1+base) {
				t.Errorf("scaling feature vectors changed the loss from %.15g to %.15g", base, got)
			}
			// Permute images and labels together (SimCLR labels are the images themselves).
			perm := rand.New(rand.NewPCG(3, 4)).Perm(len(rs))
			rs = rows(c.x)
			permuted := make([][]float64, len(rs))
			var labels []int32
			if c.labels != nil {
				labels = make([]int32, len(rs))
			}
			for i, p := range perm {
				permuted[i] = rs[p]
				if labels != nil {
					labels[i] = c.labels[p]
				}
			}
			if got := lossOf(t, c.fn(labels), fromRows(permuted, dims)); math.Abs(got-base) > 1e-12*(1+base) {
				t.Errorf("permuting the batch (%v) changed the loss from %.15g to %.15g", perm, base, got)
			}
		})
	}
}

// TestNoPositives: anchors without positives are excluded, and when there are none at all the
// loss is 0 with a zero (finite) gradient, also for a lone sample and a zero feature vector.
func TestNoPositives(t *testing.T) {
	for _, c := range []struct {
		name   string
		x      *tensors.Tensor
		labels []int32
	}{
		{"distinct_labels", gradcheck.RandomTensor(1, 5, 1, 4), []int32{4, 3, 2, 1, 0}},
		{"lone_sample", gradcheck.RandomTensor(2, 1, 1, 4), []int32{0}},
		{"zero_vector", tensors.FromFlatDataAndDimensions([]float64{0, 0, 0, 1, 2, 3}, 2, 1, 3), []int32{0, 1}},
	} {
		for _, mode := range []ContrastMode{ContrastAll, ContrastOne} {
			t.Run(c.name+"_"+mode.String(), func(t *testing.T) {
				loss, grad := lossAndGrad(t, supconFn(c.labels, SupConOptions{Temperature: 0.01, ContrastMode: mode}), c.x)
				if loss != 0 {
					t.Errorf("loss %g, want 0", loss)
				}
				for i, g := range grad {
					if g != 0 {
						t.Fatalf("gradient[%d] = %g, want 0", i, g)
					}
				}
			})
		}
	}
	// A zero vector among anchors that do have positives: finite loss and gradient.
	x := gradcheck.RandomTensor(3, 3, 2, 4)
	rs := rows(x)
	for j := range 4 {
		rs[1][j] = 0
	}
	loss, grad := lossAndGrad(t, supconFn([]int32{0, 0, 1}, SupConOptions{}), fromRows(rs, []int{3, 2, 4}))
	checkFinite(t, "with a zero feature vector", loss, grad)
}

// checkFinite fails the test if the loss or an element of its gradient is NaN or infinite.
func checkFinite(t *testing.T, what string, loss float64, grad []float64) {
	t.Helper()
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		t.Errorf("%s: loss %g", what, loss)
	}
	for i, g := range grad {
		if math.IsNaN(g) || math.IsInf(g, 0) {
			t.Errorf("%s: gradient[%d] = %g", what, i, g)
			return
		}
	}
}

// TestExtremeTemperature: with τ = 1e-3 an anchor's own term exp(z_i·z_i/τ - max) reaches
// exp(2000), which overflows float64; it is outside the sum, and must not turn into NaN anywhere.
func TestExtremeTemperature(t *testing.T) {
	x := tensors.FromFlatDataAndDimensions([]float64{1, 0, -1, 0.01, -1, -0.02}, 3, 1, 2)
	loss, grad := lossAndGrad(t, supconFn([]int32{0, 0, 1}, SupConOptions{Temperature: 1e-3}), x)
	checkFinite(t, "temperature 1e-3", loss, grad)
}

// TestLabelsLayouts: labels may be any integer dtype, shaped [B] or [B, 1] (Keras' sparse labels).
func TestLabelsLayouts(t *testing.T) {
	x3, x2 := gradcheck.RandomTensor(5, 4, 2, 3), gradcheck.RandomTensor(6, 4, 3)
	for name, fn := range map[string]func(l *Node) *Node{
		"supcon":        func(l *Node) *Node { return SupCon(Const(l.Graph(), x3), l, SupConOptions{}) },
		"npairs":        func(l *Node) *Node { return NPairs(Const(l.Graph(), x2), l, DefaultTemperature) },
		"cross_entropy": func(l *Node) *Node { return CrossEntropy(Const(l.Graph(), x2), l, 0.1) },
	} {
		want := scalar(MustExecOnce(tpu.ForTests(), fn, tensors.FromValue([]int32{2, 0, 2, 1})))
		got := scalar(MustExecOnce(tpu.ForTests(), fn, tensors.FromValue([][]int64{{2}, {0}, {2}, {1}})))
		if got != want {
			t.Errorf("%s: int64 [B, 1] labels give %.15g, int32 [B] labels %.15g", name, got, want)
		}
	}
}

// TestBadInput: invalid shapes, dtypes and options are reported as errors naming the problem.
func TestBadInput(t *testing.T) {
	backend := tpu.ForTests()
	f3 := gradcheck.RandomTensor(1, 4, 2, 3)
	f2 := gradcheck.RandomTensor(1, 4, 3)
	labels := tensors.FromValue([]int32{0, 1, 0, 1})
	for _, c := range []struct {
		name, want string
		fn         func(f, l *Node) *Node
		f          *tensors.Tensor
		labels     *tensors.Tensor
	}{
		{"supcon_rank2", "features must be a non-empty float32 or float64 [batch, views, dim] tensor, got (Float64)[4 3]", func(f, l *Node) *Node { return SupCon(f, l, SupConOptions{}) }, f2, labels},
		{"supcon_labels_length", "labels must be an integer [4]", func(f, l *Node) *Node { return SupCon(f, l, SupConOptions{}) }, f3, tensors.FromValue([]int32{0, 1, 0})},
		{"supcon_float_labels", "labels must be an integer", func(f, l *Node) *Node { return SupCon(f, l, SupConOptions{}) }, f3, tensors.FromValue([]float32{0, 1, 0, 1})},
		{"supcon_temperature", "Temperature must be a positive", func(f, l *Node) *Node { return SupCon(f, l, SupConOptions{Temperature: -1}) }, f3, labels},
		{"supcon_base_temperature", "BaseTemperature must be a positive", func(f, l *Node) *Node { return SupCon(f, l, SupConOptions{BaseTemperature: math.NaN()}) }, f3, labels},
		{"supcon_mode", "unknown contrast mode", func(f, l *Node) *Node { return SupCon(f, l, SupConOptions{ContrastMode: 7}) }, f3, labels},
		{"npairs_rank3", "features must be a non-empty float32 or float64 [batch, dim]", func(f, l *Node) *Node { return NPairs(f, l, 0.1) }, f3, labels},
		{"npairs_temperature", "temperature must be a positive", func(f, l *Node) *Node { return NPairs(f, l, 0) }, f2, labels},
		{"npairs_nil_labels", "labels are nil", func(f, _ *Node) *Node { return NPairs(f, nil, 0.1) }, f2, labels},
		{"supcon_int_features", "features must be a non-empty float32 or float64", func(f, l *Node) *Node { return SupCon(ConvertDType(f, dtypes.Int32), l, SupConOptions{}) }, f3, labels},
		{"ce_logits_rank", "logits must be a non-empty float32 or float64 [batch, classes]", func(f, l *Node) *Node { return CrossEntropy(f, l, 0) }, f3, labels},
		{"ce_smoothing", "label smoothing 1.5 is outside [0, 1]", func(f, l *Node) *Node { return CrossEntropy(f, l, 1.5) }, f2, labels},
		{"ce_labels_rank", "labels must be an integer [4]", func(f, l *Node) *Node { return CrossEntropy(f, l, 0) }, f2, tensors.FromValue([][]int32{{0, 1}, {0, 1}, {0, 1}, {0, 1}})},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ExecOnce(backend, c.fn, c.f, c.labels)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := ParseContrastMode("some"); err == nil || !strings.Contains(err.Error(), `"some"`) {
		t.Errorf("ParseContrastMode(\"some\") error %v, want one naming the mode", err)
	}
	for _, m := range []ContrastMode{ContrastAll, ContrastOne} {
		if got, err := ParseContrastMode(m.String()); err != nil || got != m {
			t.Errorf("ParseContrastMode(%q) = %v, %v", m.String(), got, err)
		}
	}
}

// BenchmarkSupConGradient: one forward and backward pass of SupCon on SimpleGo (or
// $SUPCON_BACKEND) at the trainer's batch shape, B=256 images × V=2 views × D=128, float32.
func BenchmarkSupConGradient(b *testing.B) {
	const batch, views, dim = 256, 2, 128
	rng := rand.New(rand.NewPCG(1, 2))
	features := make([]float32, batch*views*dim)
	for i := range features {
		features[i] = float32(rng.NormFloat64())
	}
	labels := make([]int32, batch)
	for i := range labels {
		labels[i] = int32(rng.IntN(5)) // Cassava has 5 classes.
	}
	exe, err := NewExec(tpu.ForTests(), func(f, l *Node) []*Node {
		loss := SupCon(f, l, SupConOptions{})
		return []*Node{loss, Gradient(loss, f)[0]}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer exe.Finalize()
	x := tensors.FromFlatDataAndDimensions(features, batch, views, dim)
	y := tensors.FromFlatDataAndDimensions(labels, batch)
	run := func() {
		out, err := exe.Exec(x, y)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range out {
			o.FinalizeAll()
		}
	}
	run() // Compile outside the timing.
	b.ResetTimer()
	for range b.N {
		run()
	}
}
