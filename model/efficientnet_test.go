package model

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/supcon-go/supcon/model/ops"
)

func TestConfigFor(t *testing.T) {
	for _, name := range []string{"b3", "B3", "efficientnet-b3", "efficientnet_b3"} {
		cfg, err := ConfigFor(name)
		if err != nil {
			t.Fatalf("ConfigFor(%q): %v", name, err)
		}
		if cfg.Width != 1.2 || cfg.Depth != 1.4 || cfg.Resolution != 300 || cfg.Dropout != 0.3 ||
			cfg.DropConnect != 0.2 || cfg.Padding != ops.SamePadding || cfg.DType != dtypes.Float32 ||
			cfg.BatchNormEpsilon != 1e-3 || cfg.BatchNormMomentum != 0.99 {
			t.Errorf("ConfigFor(%q) = %+v", name, cfg)
		}
	}
	if _, err := ConfigFor("b8"); err == nil || !strings.Contains(err.Error(), "b8") {
		t.Errorf("ConfigFor(b8) error = %v, want one naming b8", err)
	}
	bad := map[string]func(*Config){
		"width":        func(c *Config) { c.Width = 0 },
		"depth":        func(c *Config) { c.Depth = -1 },
		"drop-connect": func(c *Config) { c.DropConnect = 1 },
		"dropout":      func(c *Config) { c.Dropout = -0.1 },
		"padding":      func(c *Config) { c.Padding = ops.Padding(7) },
		"dtype":        func(c *Config) { c.DType = dtypes.Int32 },
		"epsilon":      func(c *Config) { c.BatchNormEpsilon = 0 },
		"momentum":     func(c *Config) { c.BatchNormMomentum = 1.5 },
	}
	for field, mutate := range bad {
		cfg, _ := ConfigFor("b0")
		mutate(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("invalid %s: Validate() = %v, want an error naming it", field, err)
		}
	}
}

func TestConfigFromContext(t *testing.T) {
	ctx := context.New()
	ctx.SetParams(DefaultParams())
	cfg, err := ConfigFromContext(ctx, "b3")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ConfigFor("b3")
	want.Dropout = 0 // the article's encoder has no top dropout.
	if cfg != want {
		t.Errorf("defaults: got %+v, want %+v", cfg, want)
	}
	if cfg, err := ConfigFromContext(context.New(), "b3"); err != nil || cfg != want {
		t.Errorf("no parameters set: got %+v (%v), want %+v", cfg, err, want)
	}
	ctx.SetParam(ParamDropout, -1.0)
	if cfg, err := ConfigFromContext(ctx, "b3"); err != nil || cfg.Dropout != 0.3 {
		t.Errorf("%s=-1: dropout %g (%v), want the published 0.3", ParamDropout, cfg.Dropout, err)
	}
	ctx.SetParams(map[string]any{ParamWidth: 0.25, ParamDepth: 0.34, ParamDropConnect: 0.1, ParamDropout: 0.0,
		ParamPadding: "symmetric", ParamDType: "bfloat16", ParamBatchNormEpsilon: 1e-5, ParamBatchNormMomentum: 0.9})
	cfg, err = ConfigFromContext(ctx, "b3")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width != 0.25 || cfg.Depth != 0.34 || cfg.DropConnect != 0.1 || cfg.Dropout != 0 ||
		cfg.Padding != ops.SymmetricPadding || cfg.DType != dtypes.BFloat16 || cfg.Resolution != 300 ||
		cfg.BatchNormEpsilon != 1e-5 || cfg.BatchNormMomentum != 0.9 {
		t.Errorf("overridden: got %+v", cfg)
	}
	if s := cfg.String(); !strings.Contains(s, "epsilon 1e-05 momentum 0.9") {
		t.Errorf("String() does not show the batch-norm settings: %s", s)
	}
	ctx.SetParam(ParamBatchNormEpsilon, -1e-5)
	if _, err := ConfigFromContext(ctx, "b3"); err == nil || !strings.Contains(err.Error(), "epsilon") {
		t.Errorf("%s=-1e-5: error = %v", ParamBatchNormEpsilon, err)
	}
	ctx.SetParam(ParamBatchNormEpsilon, 1e-5)
	ctx.SetParam(ParamPadding, "valid")
	if _, err := ConfigFromContext(ctx, "b3"); err == nil || !strings.Contains(err.Error(), "valid") {
		t.Errorf("padding \"valid\": error = %v", err)
	}
}

// TestScaling checks RoundFilters and RoundRepeats against torchvision's channel and block counts
// for B0..B7, and against the published numbers quoted in the issue.
func TestScaling(t *testing.T) {
	ref := loadReference(t)
	for _, name := range ModelNames {
		want := ref.Architectures[name]
		cfg, err := ConfigFor(name)
		if err != nil {
			t.Fatal(err)
		}
		repeats := make([]int, 7)
		out := make([]int, 7)
		for _, b := range cfg.blocks() {
			repeats[b.stage-1]++
			out[b.stage-1] = b.out
		}
		if cfg.StemChannels() != want.Stem || cfg.HeadChannels() != want.Head ||
			!slices.Equal(out, want.StageOut) || !slices.Equal(repeats, want.Repeats) {
			t.Errorf("%s: stem %d, stages %v x %v, head %d; torchvision: stem %d, stages %v x %v, head %d", name,
				cfg.StemChannels(), out, repeats, cfg.HeadChannels(), want.Stem, want.StageOut, want.Repeats, want.Head)
		}
	}
	for _, c := range []struct {
		filters int
		width   float64
		want    int
	}{{32, 1.2, 40}, {1280, 1.2, 1536}, {32, 2.0, 64}, {1280, 2.0, 2560}, {40, 0.25, 16}, {16, 0.25, 8}, {1280, 1.0, 1280}} {
		if got := RoundFilters(c.filters, c.width); got != c.want {
			t.Errorf("RoundFilters(%d, %g) = %d, want %d", c.filters, c.width, got, c.want)
		}
	}
	for _, c := range []struct {
		repeats int
		depth   float64
		want    int
	}{{3, 1.4, 5}, {4, 3.1, 13}, {1, 1.0, 1}, {3, 0.34, 2}, {2, 0.34, 1}} {
		if got := RoundRepeats(c.repeats, c.depth); got != c.want {
			t.Errorf("RoundRepeats(%d, %g) = %d, want %d", c.repeats, c.depth, got, c.want)
		}
	}
}

// encoderVarPath is the grammar of the encoder's variable names (the weights loader's contract).
var encoderVarPath = regexp.MustCompile(`^/encoder/(` +
	`(stem|head|stage[1-7]/block\d+/(expand|depthwise|project))/(conv/weights|bn/(scale|offset|mean|variance))|` +
	`stage[1-7]/block\d+/se/(reduce|expand)/(weights|biases))$`)

// TestParameterCounts builds B0 and B3 (graph only, 32x32) and sums the context's variables:
// torchvision's `features` have 4,007,548 and 10,696,232 trainable parameters, and B3 has 87,296
// batch-norm running statistics.
func TestParameterCounts(t *testing.T) {
	backend := testBackend()
	for _, c := range []struct {
		name               string
		trainable, bnStats int
	}{{"b0", 4_007_548, 42_016}, {"b3", 10_696_232, 87_296}} {
		cfg, _ := ConfigFor(c.name)
		ctx := context.New()
		out := buildOnly(t, backend, ctx, cfg, 1, 32, 32, 3)
		if !slices.Equal(out.Dimensions, []int{1, cfg.HeadChannels()}) {
			t.Errorf("%s features %s, want [1 %d]", c.name, out, cfg.HeadChannels())
		}
		trainable, bnStats := 0, 0
		for v := range ctx.IterVariables() {
			path := v.Scope() + "/" + v.Name()
			if !encoderVarPath.MatchString(path) {
				t.Errorf("%s: unexpected variable %s", c.name, path)
			}
			if v.DType() != dtypes.Float32 {
				t.Errorf("%s: %s is %s, want float32", c.name, path, v.DType())
			}
			switch {
			case v.Trainable:
				trainable += v.Shape().Size()
			case v.Name() == "mean" || v.Name() == "variance":
				bnStats += v.Shape().Size()
			default:
				t.Errorf("%s: %s is neither trainable nor a batch-norm statistic", c.name, path)
			}
		}
		if trainable != c.trainable || bnStats != c.bnStats {
			t.Errorf("%s: %d trainable parameters and %d batch-norm statistics, want %d and %d",
				c.name, trainable, bnStats, c.trainable, c.bnStats)
		}
	}
}

// TestVariableNames checks the names and shapes the weights loader relies on, on B3.
func TestVariableNames(t *testing.T) {
	cfg, _ := ConfigFor("b3")
	ctx := context.New()
	buildOnly(t, testBackend(), ctx, cfg, 1, 32, 32, 3)
	want := map[string][]int{
		"stem/conv/weights":                    {3, 3, 3, 40},
		"stem/bn/variance":                     {40},
		"stage1/block0/depthwise/conv/weights": {3, 3, 1, 40},
		"stage1/block0/se/reduce/weights":      {40, 10},
		"stage1/block0/se/reduce/biases":       {10},
		"stage1/block0/se/expand/weights":      {10, 40},
		"stage1/block0/se/expand/biases":       {40},
		"stage1/block0/project/conv/weights":   {40, 24},
		"stage1/block1/depthwise/conv/weights": {3, 3, 1, 24},
		"stage1/block1/se/reduce/weights":      {24, 6},
		"stage2/block0/expand/conv/weights":    {24, 144},
		"stage2/block0/expand/bn/scale":        {144},
		"stage2/block0/depthwise/conv/weights": {3, 3, 1, 144},
		"stage2/block0/se/reduce/weights":      {144, 6},
		"stage3/block2/depthwise/conv/weights": {5, 5, 1, 288},
		"stage6/block5/se/expand/weights":      {58, 1392},
		"stage7/block1/project/conv/weights":   {2304, 384},
		"stage7/block1/project/bn/mean":        {384},
		"head/conv/weights":                    {384, 1536},
		"head/bn/offset":                       {1536},
	}
	for name, dims := range want {
		scope, varName := name[:strings.LastIndex(name, "/")], name[strings.LastIndex(name, "/")+1:]
		v := ctx.GetVariableByScopeAndName("/encoder/"+scope, varName)
		if v == nil {
			t.Errorf("missing variable %s", name)
			continue
		}
		if !slices.Equal(v.Shape().Dimensions, dims) {
			t.Errorf("%s: shape %v, want %v", name, v.Shape().Dimensions, dims)
		}
	}
	for b := range 2 {
		if v := ctx.GetVariableByScopeAndName(fmt.Sprintf("/encoder/stage1/block%d/expand/conv", b), "weights"); v != nil {
			t.Errorf("stage 1 (expand ratio 1) has an expansion: %s", v.ScopeAndName())
		}
	}
	if v := ctx.GetVariableByScopeAndName("/encoder/stage7/block2/project/conv", "weights"); v != nil {
		t.Errorf("B3 stage 7 has 2 blocks, found %s", v.ScopeAndName())
	}
}

// TestDropConnectSchedule: the rate grows linearly with the global block index, from 0 for the
// first block to DropConnect*(n-1)/n for the last.
func TestDropConnectSchedule(t *testing.T) {
	cfg, _ := ConfigFor("b3")
	blocks := cfg.blocks()
	if len(blocks) != 26 {
		t.Fatalf("B3 has %d blocks, want 26", len(blocks))
	}
	for i, b := range blocks {
		want := 0.2 * float64(i) / 26
		if b.globalIndex != i || b.dropRate < want-1e-12 || b.dropRate > want+1e-12 {
			t.Errorf("block %d (stage%d/block%d): index %d, drop rate %g, want %g", i, b.stage, b.index, b.globalIndex, b.dropRate, want)
		}
		if b.residual() != (b.index > 0) {
			t.Errorf("stage%d/block%d: residual %v; B3 blocks are residual exactly when not first in their stage", b.stage, b.index, b.residual())
		}
	}
}

// TestReferenceScriptReproduces re-runs testdata/efficientnet_reference.py (torchvision), so the
// committed reference cannot drift from the script that documents it: the architectures must be
// identical, the tiny network's features equal up to another CPU's float rounding.
func TestReferenceScriptReproduces(t *testing.T) {
	if testing.Short() {
		t.Skip("builds torchvision's B0..B7 (a few seconds)")
	}
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import numpy, torch, torchvision").Run(); err != nil {
		t.Skipf("needs Debian's python3-torch and python3-torchvision: %v", err)
	}
	out := filepath.Join(t.TempDir(), "efficientnet_reference.json")
	if msg, err := exec.Command(python, filepath.Join("testdata", "efficientnet_reference.py"), out).CombinedOutput(); err != nil {
		t.Fatalf("efficientnet_reference.py: %v\n%s", err, msg)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	fresh, committed := &reference{}, loadReference(t)
	if err := json.Unmarshal(raw, fresh); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fresh.Architectures, committed.Architectures) {
		t.Errorf("architectures differ from the committed testdata/efficientnet_reference.json")
	}
	if fresh.Tiny.Width != committed.Tiny.Width || fresh.Tiny.Depth != committed.Tiny.Depth ||
		!slices.Equal(fresh.Tiny.Images, committed.Tiny.Images) {
		t.Errorf("tiny network: %gx%g on %v, committed %gx%g on %v", fresh.Tiny.Width, fresh.Tiny.Depth,
			fresh.Tiny.Images, committed.Tiny.Width, committed.Tiny.Depth, committed.Tiny.Images)
	}
	for name, pair := range map[string][2][][]float64{
		"symmetric_inference": {fresh.Tiny.SymmetricInference, committed.Tiny.SymmetricInference},
		"symmetric_training":  {fresh.Tiny.SymmetricTraining, committed.Tiny.SymmetricTraining},
		"same_inference":      {fresh.Tiny.SameInference, committed.Tiny.SameInference},
	} {
		if d := maxAbsDiff(t, pair[0], pair[1]); d > 1e-6 {
			t.Errorf("tiny %s: script and committed file differ by %g", name, d)
		}
	}
}
