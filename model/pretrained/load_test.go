package pretrained

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/nlpodyssey/safetensors"
	"github.com/supcon-go/supcon/model"
	"github.com/supcon-go/supcon/model/ops"
	"github.com/supcon-go/supcon/tpu"
)

// backend is shared by all tests: tensors cannot cross backend instances.
var backend = tpu.ForTests()

// Fixture files, written by testdata/make_fixture.py from one reduced torchvision EfficientNet.
const (
	tvFile   = "testdata/tiny_torchvision.safetensors"
	timmFile = "testdata/tiny_efficientnet_timm.safetensors"
	ioFile   = "testdata/tiny_io.safetensors"
)

// fixtureIO is the reference input and torchvision's eval-mode pooled features.
type fixtureIO struct {
	width, depth float64
	images       *tensors.Tensor // [B,H,W,3] float32
	features     []float64       // [B,F] flattened (float32 or float64 in the file)
	featuresTF   []float64       // the same weights run as tf_efficientnet (tiny fixture only)
	featureDims  []int
}

func readFixtureIO(t *testing.T, path string) fixtureIO {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, meta, err := safetensors.ReadMetadata(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var io fixtureIO
	for key, dst := range map[string]*float64{"width_mult": &io.width, "depth_mult": &io.depth} {
		s, ok := meta.Metadata()[key]
		if !ok {
			continue // Full-size models: the test knows their configuration.
		}
		if *dst, err = strconv.ParseFloat(s, 64); err != nil {
			t.Fatalf("%s: metadata %s: %v", path, key, err)
		}
	}
	tensor := func(name string) ([]float64, []int) {
		v, ok := st.Tensor(name)
		if !ok {
			t.Fatalf("%s: no tensor %q", path, name)
		}
		flat, err := decode(v)
		if err != nil {
			t.Fatal(err)
		}
		dims := make([]int, len(v.Shape()))
		for i, d := range v.Shape() {
			dims[i] = int(d)
		}
		return flat, dims
	}
	img, imgDims := tensor("images")
	img32 := make([]float32, len(img))
	for i, x := range img {
		img32[i] = float32(x)
	}
	io.images = tensors.FromFlatDataAndDimensions(img32, imgDims...)
	io.features, io.featureDims = tensor("features")
	if _, ok := st.Tensor("features_tf"); ok {
		io.featuresTF, _ = tensor("features_tf")
	}
	return io
}

// fixtureConfig is the model configuration the fixture was made with, padding as given.
func fixtureConfig(t *testing.T, io fixtureIO, padding ops.Padding) model.Config {
	t.Helper()
	cfg, err := model.CustomConfig(io.width, io.depth)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Padding = padding
	return cfg
}

// newEncoderContext returns a context holding cfg's encoder variables, without values.
func newEncoderContext(t *testing.T, cfg model.Config) *context.Context {
	t.Helper()
	ctx := context.New()
	if err := CreateVariables(backend, ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// encode runs the encoder in inference mode and returns its features as float64.
func encode(t *testing.T, ctx *context.Context, cfg model.Config, images *tensors.Tensor) []float64 {
	t.Helper()
	out, err := context.ExecOnce(backend, ctx.Reuse(), func(ctx *context.Context, x *Node) *Node {
		return ConvertDType(model.Encoder(ctx, cfg, x), dtypes.Float64)
	}, images)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float64](out)
}

func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// TestParity loads the fixture's weights, in both namings, into our encoder and compares its
// pooled features with torchvision's on the same input.
func TestParity(t *testing.T) {
	io := readFixtureIO(t, ioFile)
	// A degenerate fixture (activations dying out) would make the output independent of the
	// input and of most weights, and the comparison below meaningless.
	if half := len(io.features) / 2; maxAbsDiff(io.features[:half], io.features[half:]) < 0.1 {
		t.Fatal("the fixture's features hardly depend on the input image: regenerate it")
	}
	for _, tc := range []struct {
		name     string
		file     string
		opts     Options
		naming   Naming
		family   Family
		padding  ops.Padding
		eps      float64
		features []float64
	}{
		{"torchvision", tvFile, Options{}, NamingTorchvision, FamilyTorchvision, ops.SymmetricPadding, 1e-5, io.features},
		{"timm", timmFile, Options{}, NamingTimm, FamilyTimmPyTorch, ops.SymmetricPadding, 1e-5, io.features},
		// The same weights read as tf_efficientnet's: torch with SAME padding and eps 1e-3 computed these.
		{"timm_tf", timmFile, Options{Timm: FamilyTimmTF}, NamingTimm, FamilyTimmTF, ops.SamePadding, 1e-3, io.featuresTF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Padding and epsilon must come from the report: start from other ones.
			wrong := ops.SamePadding
			if tc.padding == ops.SamePadding {
				wrong = ops.SymmetricPadding
			}
			cfg := fixtureConfig(t, io, wrong)
			cfg.BatchNormEpsilon = 0.5
			ctx := newEncoderContext(t, cfg)
			rep, err := tc.opts.LoadFile(ctx, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Naming != tc.naming || rep.Family != tc.family || rep.Padding != tc.padding ||
				rep.BatchNormEpsilon != tc.eps || rep.Variant != "" {
				t.Fatalf("report: naming %v family %v padding %v eps %g variant %q", rep.Naming, rep.Family,
					rep.Padding, rep.BatchNormEpsilon, rep.Variant)
			}
			if n := ctx.In(model.EncoderScope); len(rep.Loaded) != countVars(n) {
				t.Errorf("loaded %d variables, the encoder has %d", len(rep.Loaded), countVars(n))
			}
			if len(rep.Ignored) == 0 || !strings.Contains(strings.Join(rep.Ignored, "\n"), "classifier") {
				t.Errorf("the classifier should be listed as ignored: %q", rep.Ignored)
			}
			rep.Apply(&cfg)
			if cfg.Padding != tc.padding || cfg.BatchNormEpsilon != tc.eps {
				t.Fatalf("after Apply: padding %v epsilon %g, want %v %g", cfg.Padding, cfg.BatchNormEpsilon, tc.padding, tc.eps)
			}
			want := io
			want.features = tc.features
			checkParity(t, ctx, cfg, want)
		})
	}
}

// checkParity compares our features with torchvision's to 1e-4.
func checkParity(t *testing.T, ctx *context.Context, cfg model.Config, io fixtureIO) {
	t.Helper()
	got := encode(t, ctx, cfg, io.images)
	if len(got) != len(io.features) {
		t.Fatalf("got %d features, torchvision %d %v", len(got), len(io.features), io.featureDims)
	}
	if d := maxAbsDiff(got, io.features); d > 1e-4 {
		t.Errorf("max |ours - torchvision| = %g > 1e-4", d)
	} else {
		t.Logf("max |ours - torchvision| = %.3g over %v features", d, io.featureDims)
	}
}

func countVars(ctx *context.Context) int {
	n := 0
	for range ctx.IterVariablesInScope() {
		n++
	}
	return n
}

// TestParityNeedsTheReportedSettings shows the parity tolerance is tight enough to catch the
// settings the loader reports: the wrong padding, or our default batch-norm epsilon (1e-3, what
// a caller who forgets Report.Apply gets) instead of torchvision's 1e-5, are visible.
func TestParityNeedsTheReportedSettings(t *testing.T) {
	io := readFixtureIO(t, ioFile)
	cfg := fixtureConfig(t, io, ops.SymmetricPadding)
	ctx := newEncoderContext(t, cfg)
	rep, err := LoadFile(ctx, tvFile)
	if err != nil {
		t.Fatal(err)
	}
	rep.Apply(&cfg)
	if cfg.BatchNormEpsilon == model.DefaultBatchNormEpsilon {
		t.Fatalf("the fixture's epsilon %g is the default: this test would show nothing", cfg.BatchNormEpsilon)
	}
	wrongPadding, wrongEpsilon := cfg, cfg
	wrongPadding.Padding = ops.SamePadding
	wrongEpsilon.BatchNormEpsilon = model.DefaultBatchNormEpsilon
	for _, c := range []struct {
		what string
		cfg  model.Config
	}{
		{fmt.Sprintf("SAME padding instead of the reported %v", rep.Padding), wrongPadding},
		{fmt.Sprintf("batch-norm epsilon %g instead of the reported %g", model.DefaultBatchNormEpsilon, rep.BatchNormEpsilon), wrongEpsilon},
	} {
		// Far more than checkParity's 1e-4 tolerance.
		if d := maxAbsDiff(encode(t, ctx, c.cfg, io.images), io.features); d < 1e-3 {
			t.Errorf("%s changed the features by only %g", c.what, d)
		} else {
			t.Logf("%s: max diff %.3g", c.what, d)
		}
	}
}

// TestVariancesLoadedUnchanged: the running variances are the file's, value for value (as a
// multiset, whatever the mapping): the epsilon is the config's business, not folded into them.
func TestVariancesLoadedUnchanged(t *testing.T) {
	io := readFixtureIO(t, ioFile)
	cfg := fixtureConfig(t, io, ops.SymmetricPadding)
	ctx := newEncoderContext(t, cfg)
	if _, err := LoadFile(ctx, tvFile); err != nil {
		t.Fatal(err)
	}
	var loaded, file []float32
	for v := range ctx.In(model.EncoderScope).IterVariablesInScope() {
		if v.Name() == "variance" {
			loaded = append(loaded, tensors.MustCopyFlatData[float32](v.MustValue())...)
		}
	}
	data, err := os.ReadFile(tvFile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, nv := range st.Tensors() {
		if !strings.HasSuffix(nv.Name, ".running_var") {
			continue
		}
		flat, err := decode(nv.TensorView)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range flat {
			file = append(file, float32(x))
		}
	}
	slices.Sort(loaded)
	slices.Sort(file)
	if len(file) == 0 || !slices.Equal(loaded, file) {
		t.Errorf("loaded variances (%d values) differ from the file's running_var (%d values)", len(loaded), len(file))
	}
}

// rewrite re-serialises a safetensors file after edit changes its tensors (name -> view).
func rewrite(t *testing.T, path string, edit func(map[string]safetensors.TensorView)) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		t.Fatal(err)
	}
	views := map[string]safetensors.TensorView{}
	for _, nv := range st.Tensors() {
		views[nv.Name] = nv.TensorView
	}
	edit(views)
	out, err := safetensors.Serialize(views, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func f32View(t *testing.T, dims ...uint64) safetensors.TensorView {
	t.Helper()
	n := uint64(1)
	for _, d := range dims {
		n *= d
	}
	v, err := safetensors.NewTensorView(safetensors.F32, dims, make([]byte, 4*n))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestLoadErrors: a missing tensor, an extra one and a wrong shape are each reported by name,
// all of them together in one error, and the context is left untouched.
func TestLoadErrors(t *testing.T) {
	io := readFixtureIO(t, ioFile)
	cfg := fixtureConfig(t, io, ops.SymmetricPadding)
	const (
		missing = "features.4.1.block.1.1.running_var"
		extra   = "features.2.0.block.1.0.bias" // a conv bias: our depthwise conv has none
		resized = "features.0.0.weight"
	)
	cases := []struct {
		name string
		edit func(map[string]safetensors.TensorView)
		want []string // substrings of the error
	}{
		{"missing", func(m map[string]safetensors.TensorView) { delete(m, missing) },
			[]string{"1 unfilled variables", "/encoder/stage4/block1/depthwise/bn/variance"}},
		{"extra", func(m map[string]safetensors.TensorView) { m[extra] = f32View(t, 48) },
			[]string{"1 unused file tensors", extra}},
		{"shape", func(m map[string]safetensors.TensorView) { m[resized] = f32View(t, 8, 3, 5, 5) },
			[]string{"1 shape mismatches", "stem/conv/weights", "[8 3 5 5] -> [5 5 3 8], variable has [3 3 3 8]"}},
		{"integer weights", func(m map[string]safetensors.TensorView) {
			v, err := safetensors.NewTensorView(safetensors.I64, []uint64{8}, make([]byte, 64))
			if err != nil {
				t.Fatal(err)
			}
			m["features.0.1.weight"] = v
		}, []string{"1 invalid tensors", "features.0.1.weight [8]: dtype I64 is not a floating-point type"}},
		// Skipped tensors are skipped only where they belong: a step counter of a batch norm the
		// encoder lacks (stage 4 has 1 block here) and a classifier layer that is not the
		// ImageNet one are unused like any other tensor.
		{"stray counter", func(m map[string]safetensors.TensorView) {
			m["features.4.7.block.1.1.num_batches_tracked"] = m["features.4.1.block.1.1.num_batches_tracked"]
		}, []string{"1 unused file tensors", "features.4.7.block.1.1.num_batches_tracked: the step counter of no batch norm"}},
		{"stray classifier", func(m map[string]safetensors.TensorView) { m["classifier.2.weight"] = f32View(t, 5, 8) },
			[]string{"1 unused file tensors", "classifier.2.weight"}},
		{"duplicate", func(m map[string]safetensors.TensorView) {
			// "01" is stage 1 too: two tensors for one variable.
			m["features.01.0.block.0.0.weight"] = m["features.1.0.block.0.0.weight"]
		}, []string{"1 invalid tensors", "already filled by"}},
		{"all", func(m map[string]safetensors.TensorView) {
			delete(m, missing)
			m[extra] = f32View(t, 48)
			m[resized] = f32View(t, 8, 3, 5, 5)
		}, []string{"stage4/block1/depthwise/bn/variance", extra, "stem/conv/weights"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newEncoderContext(t, cfg)
			data := rewrite(t, tvFile, tc.edit)
			_, err := LoadBytes(ctx, data, "edited.safetensors")
			var lerr *LoadError
			if !errors.As(err, &lerr) {
				t.Fatalf("want a *LoadError, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if tc.name == "all" && (len(lerr.Unfilled) != 1 || len(lerr.Unused) != 1 || len(lerr.Mismatched) != 1) {
				t.Errorf("want one of each problem, got %d unfilled, %d unused, %d mismatched:\n%v",
					len(lerr.Unfilled), len(lerr.Unused), len(lerr.Mismatched), err)
			}
			for v := range ctx.IterVariables() {
				if v.HasValue() {
					t.Fatalf("a failed load wrote %s", v.ScopeAndName())
				}
			}
		})
	}
}

// TestLoadRejects covers inputs that are not our weights at all.
func TestLoadRejects(t *testing.T) {
	io := readFixtureIO(t, ioFile)
	cfg := fixtureConfig(t, io, ops.SymmetricPadding)
	good, err := os.ReadFile(tvFile)
	if err != nil {
		t.Fatal(err)
	}
	timm, err := os.ReadFile(timmFile)
	if err != nil {
		t.Fatal(err)
	}
	ioData, err := os.ReadFile(ioFile)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, source string
		data         []byte
		ctx          *context.Context
		want         string
	}{
		{"truncated", "t.safetensors", good[:len(good)-10], nil, "not a valid safetensors file"},
		{"not safetensors", "t.safetensors", []byte("PK\x03\x04 this is a zip"), nil, "not a valid safetensors file"},
		{"other model", "t.safetensors", ioData, nil, "neither torchvision's EfficientNet naming"},
		{"timm family unknown", "model.safetensors", timm, nil, "set Options.Timm"},
		{"no variables", "t.safetensors", good, context.New(), "build the encoder graph once"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = newEncoderContext(t, cfg)
			}
			_, err := LoadBytes(ctx, tc.data, tc.source)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error mentioning %q, got %v", tc.want, err)
			}
		})
	}
}

// TestWrongArchitecture loads the fixture into a wider model: every tensor is mismatched.
func TestWrongArchitecture(t *testing.T) {
	io := readFixtureIO(t, ioFile)
	cfg := fixtureConfig(t, io, ops.SymmetricPadding)
	cfg.Width *= 2
	_, err := LoadFile(newEncoderContext(t, cfg), tvFile)
	var lerr *LoadError
	if !errors.As(err, &lerr) || len(lerr.Mismatched) == 0 {
		t.Fatalf("want shape mismatches, got %v", err)
	}
}

// TestTimmFamily: timm's families share tensor names, so the family comes from the path or
// from Options, and decides padding and epsilon.
func TestTimmFamily(t *testing.T) {
	io := readFixtureIO(t, ioFile)
	cfg := fixtureConfig(t, io, ops.SymmetricPadding)
	data, err := os.ReadFile(timmFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		source string
		opts   Options
		want   Family
		pad    ops.Padding
		eps    float64
	}{
		{"hub/models--timm--tf_efficientnet_b3.ns_jft_in1k/snapshots/x/model.safetensors", Options{}, FamilyTimmTF, ops.SamePadding, 1e-3},
		{"hub/models--timm--efficientnet_b3.ra2_in1k/snapshots/x/model.safetensors", Options{}, FamilyTimmPyTorch, ops.SymmetricPadding, 1e-5},
		{"weights.safetensors", Options{Timm: FamilyTimmTF}, FamilyTimmTF, ops.SamePadding, 1e-3},
	} {
		rep, err := tc.opts.LoadBytes(newEncoderContext(t, cfg), data, tc.source)
		if err != nil {
			t.Fatalf("%s: %v", tc.source, err)
		}
		if rep.Family != tc.want || rep.Padding != tc.pad || rep.BatchNormEpsilon != tc.eps {
			t.Errorf("%s: got %v %v eps %g, want %v %v eps %g", tc.source, rep.Family, rep.Padding,
				rep.BatchNormEpsilon, tc.want, tc.pad, tc.eps)
		}
	}
}

// TestDecode checks the half-precision decoders on values with exact encodings.
func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		dt   safetensors.DType
		raw  []byte
		want []float64
	}{
		// F16: 0x3C00 = 1, 0xC000 = -2, 0x3555 = 0.333251953125.
		{safetensors.F16, []byte{0x00, 0x3C, 0x00, 0xC0, 0x55, 0x35}, []float64{1, -2, 0.333251953125}},
		// BF16: 0x3F80 = 1, 0xC040 = -3, 0x3EAB = 0.333984375.
		{safetensors.BF16, []byte{0x80, 0x3F, 0x40, 0xC0, 0xAB, 0x3E}, []float64{1, -3, 0.333984375}},
		// F64: 0.1 is not exactly representable in float32; it must come through unrounded.
		{safetensors.F64, []byte{0x9A, 0x99, 0x99, 0x99, 0x99, 0x99, 0xB9, 0x3F}, []float64{0.1}},
	} {
		v, err := safetensors.NewTensorView(tc.dt, []uint64{uint64(len(tc.want))}, tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decode(v)
		if err != nil {
			t.Fatal(err)
		}
		for i := range tc.want {
			if got[i] != tc.want[i] {
				t.Errorf("%s[%d] = %v, want %v", tc.dt, i, got[i], tc.want[i])
			}
		}
	}
	v, _ := safetensors.NewTensorView(safetensors.I64, []uint64{1}, make([]byte, 8))
	if _, err := decode(v); err == nil {
		t.Error("I64 weights should be rejected")
	}
}

// TestToOurLayout checks the permutation on a kernel small enough to write out: OIHW [2,1,1,2]
// holds o*10+w at (o,0,0,w); HWIO [1,2,1,2] must hold it at (0,w,0,o).
func TestToOurLayout(t *testing.T) {
	got, dims, err := toOurLayout([]float64{0, 1, 10, 11}, []int{2, 1, 1, 2}, kindConv)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0, 10, 1, 11}
	if !slices.Equal(dims, []int{1, 2, 1, 2}) || maxAbsDiff(got, want) != 0 {
		t.Errorf("got %v %v, want [1 2 1 2] %v", dims, got, want)
	}
	// 1x1 [O=3, I=2]: [I,O] is the transpose.
	got, dims, err = toOurLayout([]float64{1, 2, 3, 4, 5, 6}, []int{3, 2, 1, 1}, kindPointwise)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dims, []int{2, 3}) || maxAbsDiff(got, []float64{1, 3, 5, 2, 4, 6}) != 0 {
		t.Errorf("pointwise: got %v %v", dims, got)
	}
	if _, _, err := toOurLayout(make([]float64, 18), []int{2, 1, 3, 3}, kindPointwise); err == nil {
		t.Error("a 3x3 kernel where a 1x1 is expected should be rejected")
	}
}

// runQuiet runs a command, returning its output in the error when it fails.
func runQuiet(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// TestFixtureReproducible reruns make_fixture.py and compares with the committed fixture: the
// weights must be identical, the features equal up to float rounding of another CPU.
func TestFixtureReproducible(t *testing.T) {
	python := "/usr/bin/python3"
	if err := runQuiet(python, "-c", "import torch, torchvision"); err != nil {
		t.Skipf("needs Debian's python3-torch and python3-torchvision: %v", err)
	}
	dir := t.TempDir()
	if err := runQuiet(python, "testdata/make_fixture.py", "--out", dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{tvFile, timmFile} {
		want, err1 := os.ReadFile(f)
		got, err2 := os.ReadFile(filepath.Join(dir, filepath.Base(f)))
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		if string(want) != string(got) {
			t.Errorf("%s differs from what make_fixture.py writes now", f)
		}
	}
	want, got := readFixtureIO(t, ioFile), readFixtureIO(t, filepath.Join(dir, filepath.Base(ioFile)))
	if !slices.Equal(tensors.MustCopyFlatData[float32](want.images), tensors.MustCopyFlatData[float32](got.images)) {
		t.Error("the fixture's input images differ")
	}
	if d := maxAbsDiff(want.features, got.features); d > 1e-6 {
		t.Errorf("the fixture's features differ by %g", d)
	}
}

// TestTorchvisionFullSize: torchvision's full-size efficientnet_b3 (random weights and
// statistics as in the fixture), saved as a .pth and converted by convert_torchvision.py, loads
// into model.ConfigFor("b3") and computes torchvision's features. This covers the real
// architecture (all names and shapes, variant recognition) and the user's conversion path.
func TestTorchvisionFullSize(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a 50 MB checkpoint")
	}
	python := "/usr/bin/python3"
	if err := runQuiet(python, "-c", "import torch, torchvision"); err != nil {
		t.Skipf("needs Debian's python3-torch and python3-torchvision: %v", err)
	}
	dir := t.TempDir()
	if err := runQuiet(python, "testdata/make_fixture.py", "--arch", "efficientnet_b3", "--out", dir); err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(dir, "efficientnet_b3.safetensors")
	if err := runQuiet(python, "convert_torchvision.py", "--arch", "efficientnet_b3",
		filepath.Join(dir, "efficientnet_b3.pth"), st); err != nil {
		t.Fatal(err)
	}
	cfg, err := model.ConfigFor("b3")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DType = dtypes.Float64 // the reference is float64: see make_fixture.py
	ctx := newEncoderContext(t, cfg)
	rep, err := LoadFile(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Variant != "efficientnet_b3" || rep.Padding != ops.SymmetricPadding || rep.BatchNormEpsilon != 1e-5 {
		t.Errorf("report: variant %q padding %v eps %g", rep.Variant, rep.Padding, rep.BatchNormEpsilon)
	}
	if n := countVars(ctx.In(model.EncoderScope)); len(rep.Loaded) != n {
		t.Errorf("loaded %d of %d variables", len(rep.Loaded), n)
	}
	rep.Apply(&cfg)
	checkParity(t, ctx, cfg, readFixtureIO(t, filepath.Join(dir, "efficientnet_b3_io.safetensors")))
}
