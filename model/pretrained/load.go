package pretrained

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/nlpodyssey/safetensors"
	"github.com/supcon-go/supcon/model"
	"github.com/supcon-go/supcon/model/ops"
	"github.com/x448/float16"
)

// Family is the library and model family a weights file comes from. It decides the padding and
// the batch-norm epsilon the model must use for the weights to mean what they meant in training.
type Family int

const (
	// FamilyUnknown: not decided (in Options: infer it).
	FamilyUnknown Family = iota
	// FamilyTorchvision: torchvision's efficientnet_bN (symmetric padding; BN eps 1e-5 for
	// b0-b4 and for custom configurations, 1e-3 for b5-b7).
	FamilyTorchvision
	// FamilyTimmTF: timm's tf_efficientnet_bN*, ports of the TensorFlow checkpoints
	// (TensorFlow "SAME" padding, BN eps 1e-3).
	FamilyTimmTF
	// FamilyTimmPyTorch: timm's efficientnet_bN*, trained in PyTorch (symmetric padding, BN eps 1e-5).
	FamilyTimmPyTorch
)

func (f Family) String() string {
	switch f {
	case FamilyUnknown:
		return "unknown"
	case FamilyTorchvision:
		return "torchvision efficientnet"
	case FamilyTimmTF:
		return "timm tf_efficientnet"
	case FamilyTimmPyTorch:
		return "timm efficientnet"
	}
	return fmt.Sprintf("Family(%d)", int(f))
}

// Options adjust loading. The zero value is the default.
type Options struct {
	// Timm says which timm family a file in timm's naming is. tf_efficientnet and efficientnet
	// checkpoints have the same tensor names but need different padding and batch-norm epsilon,
	// so when this is FamilyUnknown the file path must contain "tf_efficientnet" or
	// "efficientnet" (as timm's Hugging Face repositories and cache directories do), or loading fails.
	Timm Family
}

// Report describes a successful load.
type Report struct {
	// Source is the path (or the name given to LoadBytes).
	Source string
	Naming Naming
	Family Family
	// Variant is the torchvision model recognised from the channel counts and depth
	// ("efficientnet_b3"), "" when it matches none of b0-b7 (e.g. a reduced test model) or for timm.
	Variant string
	// Padding is the padding the weights were trained with: ops.SamePadding for timm's tf_
	// models, ops.SymmetricPadding for torchvision and timm's PyTorch-trained models. The
	// model.Config must use the same (cfg.Padding = report.Padding, see Apply), or every strided
	// convolution is shifted by a pixel.
	Padding ops.Padding
	// BatchNormEpsilon is the epsilon the checkpoint's batch norms were trained with (1e-5 for
	// torchvision's b0-b4 and timm's PyTorch-trained models, 1e-3 otherwise). The model.Config
	// must use the same (cfg.BatchNormEpsilon = report.BatchNormEpsilon, see Apply): the running
	// variances are loaded as they are, so with another epsilon every batch norm divides by
	// sqrt(variance + wrong epsilon), in inference and, with batch statistics, in fine-tuning.
	BatchNormEpsilon float64
	// BatchNormMomentum is the checkpoint's running-average momentum in PyTorch's convention
	// (weight of the new batch); model.Config.BatchNormMomentum is Keras', 1 - this. It is
	// informative only: it does not change what the weights compute, and how fast fine-tuning
	// updates the statistics is the trainer's choice, so Apply leaves it alone.
	BatchNormMomentum float64
	// Loaded lists the filled variables (full scope paths), sorted.
	Loaded []string
	// Ignored lists the file tensors skipped on purpose, each with its reason, sorted.
	Ignored []string
}

// Apply sets the settings the weights were trained with, and without which they do not compute
// what they computed then, in cfg: the padding and the batch-norm epsilon. Call it after a
// successful load, before building the graph with cfg.
func (r Report) Apply(cfg *model.Config) {
	cfg.Padding = r.Padding
	cfg.BatchNormEpsilon = r.BatchNormEpsilon
}

// LoadError lists everything that stopped a load; nothing is written to the context then.
type LoadError struct {
	Source string
	// Unused: file tensors that correspond to no encoder variable.
	Unused []string
	// Unfilled: encoder variables that no file tensor fills.
	Unfilled []string
	// Mismatched: tensors whose shape (after conversion to our layout) differs from the variable's.
	Mismatched []string
	// Invalid: tensors that cannot be converted at all (dtype, rank, duplicates).
	Invalid []string
}

func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pretrained weights %s do not fit the encoder:", e.Source)
	for _, l := range []struct {
		what  string
		items []string
	}{
		{"unused file tensors", e.Unused},
		{"unfilled variables", e.Unfilled},
		{"shape mismatches", e.Mismatched},
		{"invalid tensors", e.Invalid},
	} {
		if len(l.items) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n  %d %s:", len(l.items), l.what)
		for _, it := range l.items {
			fmt.Fprintf(&b, "\n    %s", it)
		}
	}
	return b.String()
}

func (e *LoadError) empty() bool {
	return len(e.Unused)+len(e.Unfilled)+len(e.Mismatched)+len(e.Invalid) == 0
}

// LoadFile fills the encoder variables of ctx from a .safetensors file; see Options.LoadBytes.
func LoadFile(ctx *context.Context, path string) (Report, error) {
	return Options{}.LoadFile(ctx, path)
}

// LoadBytes is Options{}.LoadBytes.
func LoadBytes(ctx *context.Context, data []byte, source string) (Report, error) {
	return Options{}.LoadBytes(ctx, data, source)
}

// LoadFile fills the encoder variables of ctx from a .safetensors file; see Options.LoadBytes.
func (o Options) LoadFile(ctx *context.Context, path string) (Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Report{}, fmt.Errorf("pretrained weights: %w", err)
	}
	return o.LoadBytes(ctx, data, path)
}

// LoadBytes fills the encoder variables of ctx (those under ctx.In(model.EncoderScope)) from the
// contents of a .safetensors file in torchvision's or timm's EfficientNet naming, detected from
// the tensor names. source names the data in messages and, for timm files, tells the family
// (see Options.Timm).
//
// The variables must already exist with their final shapes: build the encoder graph once, or
// call CreateVariables, before loading (creating variables is the model's business, so that a
// file can never define the architecture). Every file tensor must fill exactly one variable
// and every encoder variable must be filled, with the same shape after the layout conversion,
// or a *LoadError lists all the problems and ctx is left untouched. Only the ImageNet classifier
// (its weight and bias) and the step counters of the encoder's batch norms are skipped, and
// listed in Report.Ignored.
//
// Values are loaded unchanged (only rearranged and converted to the variables' dtype). For the
// outputs to match the original network the caller must build the model with the padding and
// batch-norm epsilon of the report: Report.Apply(&cfg).
func (o Options) LoadBytes(ctx *context.Context, data []byte, source string) (Report, error) {
	st, err := safetensors.Deserialize(data)
	if err != nil {
		return Report{}, fmt.Errorf("pretrained weights %s: not a valid safetensors file: %w", source, err)
	}
	names := st.Names()
	naming, err := detectNaming(names)
	if err != nil {
		return Report{}, fmt.Errorf("pretrained weights %s: %w", source, err)
	}
	rep := Report{Source: source, Naming: naming}
	if err := o.decideFamily(&rep, st); err != nil {
		return Report{}, err
	}

	base := context.JoinScope(ctx.Scope(), model.EncoderScope)
	vars := encoderVariables(ctx, base)
	if len(vars) == 0 {
		return Report{}, fmt.Errorf("pretrained weights %s: the context has no variables under %q: "+
			"build the encoder graph once (or call CreateVariables) before loading", source, base)
	}

	lerr := &LoadError{Source: source}
	mp := newMapper(naming, names)
	values := map[string]*tensors.Tensor{} // relative variable path -> converted value
	from := map[string]string{}            // relative variable path -> file tensor name
	counters := 0
	for _, name := range names {
		// Skipped on purpose only when they belong where they should: a counter of one of the
		// encoder's batch norms, the ImageNet classifier's two tensors. Any other is unused.
		if module, ok := strings.CutSuffix(name, ".num_batches_tracked"); ok {
			if tgt, ok := mp.target(module + ".running_var"); ok && vars[tgt.path] != nil {
				counters++ // One per batch norm: summarised below rather than listed.
				continue
			}
			lerr.Unused = append(lerr.Unused, fmt.Sprintf("%s: the step counter of no batch norm of the encoder", name))
			continue
		}
		if slices.Contains(imagenetClassifier[naming], name) {
			rep.Ignored = append(rep.Ignored, name+" (ImageNet classifier, not part of the encoder)")
			continue
		}
		tgt, ok := mp.target(name)
		if !ok {
			lerr.Unused = append(lerr.Unused, fmt.Sprintf("%s: no such part in an EfficientNet encoder", name))
			continue
		}
		v, ok := vars[tgt.path]
		if !ok {
			lerr.Unused = append(lerr.Unused, fmt.Sprintf("%s: would fill %s, which the encoder does not have",
				name, context.JoinScope(base, tgt.path)))
			continue
		}
		if prev, dup := from[tgt.path]; dup {
			lerr.Invalid = append(lerr.Invalid, fmt.Sprintf("%s: fills %s, already filled by %s",
				name, v.ScopeAndName(), prev))
			continue
		}
		from[tgt.path] = name
		view, _ := st.Tensor(name)
		shape := make([]int, len(view.Shape()))
		for i, d := range view.Shape() {
			shape[i] = int(d)
		}
		flat, err := decode(view)
		if err != nil {
			lerr.Invalid = append(lerr.Invalid, fmt.Sprintf("%s %v: %v", name, shape, err))
			continue
		}
		flat, dims, err := toOurLayout(flat, shape, tgt.kind)
		if err != nil {
			lerr.Invalid = append(lerr.Invalid, fmt.Sprintf("%s %v: %v", name, shape, err))
			continue
		}
		want := v.Shape().Dimensions
		if !slices.Equal(dims, want) {
			lerr.Mismatched = append(lerr.Mismatched, fmt.Sprintf("%s: file %s %v -> %v, variable has %v",
				v.ScopeAndName(), name, shape, dims, want))
			continue
		}
		t, err := asTensor(flat, dims, v.DType())
		if err != nil {
			lerr.Invalid = append(lerr.Invalid, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		values[tgt.path] = t
	}
	for _, path := range sortedKeys(vars) {
		if _, ok := from[path]; !ok {
			lerr.Unfilled = append(lerr.Unfilled, fmt.Sprintf("%s %v", vars[path].ScopeAndName(), vars[path].Shape().Dimensions))
		}
	}
	if !lerr.empty() {
		for _, l := range [][]string{lerr.Unused, lerr.Mismatched, lerr.Invalid} {
			slices.Sort(l)
		}
		return Report{}, lerr
	}
	for _, path := range sortedKeys(values) {
		v := vars[path]
		if err := v.SetValue(values[path]); err != nil {
			return Report{}, fmt.Errorf("pretrained weights %s: setting %s: %w", source, v.ScopeAndName(), err)
		}
		rep.Loaded = append(rep.Loaded, v.ScopeAndName())
	}
	slices.Sort(rep.Ignored)
	if counters > 0 {
		rep.Ignored = append(rep.Ignored, fmt.Sprintf("%d *.num_batches_tracked (batch-norm step counters, "+
			"used by neither inference nor our batch norm)", counters))
	}
	return rep, nil
}

// imagenetClassifier are the tensors of each naming's ImageNet classification layer (torchvision's
// classifier is Sequential(Dropout, Linear)), which the encoder does not have.
var imagenetClassifier = map[Naming][]string{
	NamingTorchvision: {"classifier.1.weight", "classifier.1.bias"},
	NamingTimm:        {"classifier.weight", "classifier.bias"},
}

// encoderVariables maps paths relative to the encoder scope base ("stem/conv/weights") to variables.
func encoderVariables(ctx *context.Context, base string) map[string]*context.Variable {
	vars := map[string]*context.Variable{}
	for v := range ctx.IterVariables() {
		full := v.ScopeAndName()
		if rel, ok := strings.CutPrefix(full, base+context.ScopeSeparator); ok {
			vars[rel] = v
		}
	}
	return vars
}

// decideFamily fills Family, Variant, padding and batch-norm settings.
func (o Options) decideFamily(rep *Report, st safetensors.SafeTensors) error {
	if rep.Naming == NamingTorchvision {
		rep.Family = FamilyTorchvision
		rep.Variant = torchvisionVariant(st)
		rep.Padding = ops.SymmetricPadding
		rep.BatchNormEpsilon, rep.BatchNormMomentum = 1e-5, 0.1
		switch rep.Variant {
		case "efficientnet_b5", "efficientnet_b6", "efficientnet_b7":
			// torchvision builds these with BatchNorm2d(eps=0.001, momentum=0.01): their weights
			// were ported from the TensorFlow checkpoints.
			rep.BatchNormEpsilon, rep.BatchNormMomentum = 1e-3, 0.01
		}
		return nil
	}
	fam := o.Timm
	if fam == FamilyUnknown {
		fam = timmFamilyFromPath(rep.Source)
	}
	switch fam {
	case FamilyTimmTF:
		rep.Padding, rep.BatchNormEpsilon, rep.BatchNormMomentum = ops.SamePadding, 1e-3, 0.1
	case FamilyTimmPyTorch:
		rep.Padding, rep.BatchNormEpsilon, rep.BatchNormMomentum = ops.SymmetricPadding, 1e-5, 0.1
	case FamilyUnknown:
		return fmt.Errorf("pretrained weights %s: timm's tf_efficientnet (SAME padding, BN eps 1e-3) and "+
			"efficientnet (symmetric padding, BN eps 1e-5) checkpoints have the same tensor names and this path "+
			"names neither: keep timm's model name in the file name (e.g. tf_efficientnet_b3.safetensors) "+
			"or set Options.Timm", rep.Source)
	default:
		return fmt.Errorf("pretrained weights %s: Options.Timm = %v is not a timm family", rep.Source, fam)
	}
	rep.Family = fam
	return nil
}

// timmFamilyFromPath reads the family from timm's model name in the path: Hugging Face repositories
// and cache directories are named after it (timm/tf_efficientnet_b3.ns_jft_in1k/model.safetensors).
// The file name is looked at first so that a renamed file in some other model's directory wins.
func timmFamilyFromPath(path string) Family {
	for _, s := range []string{filepath.Base(path), path} {
		s = strings.ToLower(s)
		if strings.Contains(s, "tf_efficientnet") {
			return FamilyTimmTF
		}
		if strings.Contains(s, "efficientnet") {
			return FamilyTimmPyTorch
		}
	}
	return FamilyUnknown
}

// torchvisionVariants identifies b0-b7 by head width and total block count (b0 and b1 share
// the head width; widths of the stem are ambiguous between b4 and b5).
var torchvisionVariants = map[[2]int]string{
	{1280, 16}: "efficientnet_b0",
	{1280, 23}: "efficientnet_b1",
	{1408, 23}: "efficientnet_b2",
	{1536, 26}: "efficientnet_b3",
	{1792, 32}: "efficientnet_b4",
	{2048, 39}: "efficientnet_b5",
	{2304, 45}: "efficientnet_b6",
	{2560, 55}: "efficientnet_b7",
}

func torchvisionVariant(st safetensors.SafeTensors) string {
	m := newTorchvisionMapper(st.Names())
	blocks := map[string]bool{}
	for _, n := range st.Names() {
		if sm := tvFeature.FindStringSubmatch(n); sm != nil {
			if bm := tvBlock.FindStringSubmatch(sm[2]); bm != nil {
				blocks[sm[1]+"."+bm[1]] = true
			}
		}
	}
	head, ok := st.Tensor(fmt.Sprintf("features.%d.0.weight", m.head))
	if !ok || len(head.Shape()) == 0 {
		return ""
	}
	return torchvisionVariants[[2]int{int(head.Shape()[0]), len(blocks)}]
}

// decode reads a floating-point tensor into float64 (exact for every source type, so that the
// conversion to the variable's dtype rounds only once).
func decode(view safetensors.TensorView) ([]float64, error) {
	raw := view.Data()
	dt := view.DType()
	var n int
	switch dt {
	case safetensors.F16, safetensors.BF16:
		n = len(raw) / 2
	case safetensors.F32:
		n = len(raw) / 4
	case safetensors.F64:
		n = len(raw) / 8
	default:
		return nil, fmt.Errorf("dtype %s is not a floating-point type", dt)
	}
	out := make([]float64, n)
	for i := range out {
		switch dt {
		case safetensors.F16:
			out[i] = float64(float16.Frombits(binary.LittleEndian.Uint16(raw[2*i:])).Float32())
		case safetensors.BF16:
			out[i] = float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16))
		case safetensors.F32:
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		case safetensors.F64:
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	}
	return out, nil
}

// toOurLayout rearranges PyTorch's layout into ours and returns the new dimensions.
func toOurLayout(flat []float64, shape []int, k kind) ([]float64, []int, error) {
	switch k {
	case kindVector:
		if len(shape) != 1 {
			return nil, nil, fmt.Errorf("want a 1-D tensor")
		}
		return flat, shape, nil
	case kindConv, kindPointwise:
		if len(shape) != 4 {
			return nil, nil, fmt.Errorf("want a 4-D OIHW convolution kernel")
		}
	}
	o, i, h, w := shape[0], shape[1], shape[2], shape[3]
	if k == kindPointwise && (h != 1 || w != 1) {
		return nil, nil, fmt.Errorf("want a 1x1 convolution kernel")
	}
	// OIHW -> HWIO; for 1x1 kernels HWIO is [1,1,I,O], stored without the unit axes.
	out := make([]float64, len(flat))
	for oo := range o {
		for ii := range i {
			for hh := range h {
				for ww := range w {
					out[((hh*w+ww)*i+ii)*o+oo] = flat[((oo*i+ii)*h+hh)*w+ww]
				}
			}
		}
	}
	if k == kindPointwise {
		return out, []int{i, o}, nil
	}
	return out, []int{h, w, i, o}, nil
}

func asTensor(flat []float64, dims []int, dt dtypes.DType) (*tensors.Tensor, error) {
	switch dt {
	case dtypes.Float64:
		return tensors.FromFlatDataAndDimensions(flat, dims...), nil
	case dtypes.Float32:
		f := make([]float32, len(flat))
		for i, x := range flat {
			f[i] = float32(x)
		}
		return tensors.FromFlatDataAndDimensions(f, dims...), nil
	}
	return nil, fmt.Errorf("variable dtype %s is not supported (want float32 or float64)", dt)
}
