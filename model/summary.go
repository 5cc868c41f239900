package model

import (
	"fmt"
	"io"
	"strings"

	"github.com/gomlx/gomlx/backends/simplego"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/pkg/errors"
)

// Part is one row of an Architecture: the stem, a stage, the head convolution or the pooling.
type Part struct {
	Name        string // "stem", "stage1".."stage7", "head", "pool".
	Blocks      int    // MBConv blocks (stages only).
	OutputShape []int  // with batch 1.
	Trainable   int    // trainable parameters (weights, biases, batch-norm scale and offset).
	BNStats     int    // batch-norm running mean and variance elements (not trained).
}

// Architecture is the encoder of a configuration, part by part.
type Architecture struct {
	Config     Config
	Resolution int
	Parts      []Part
	// Trainable and BNStats are the totals over Parts.
	Trainable, BNStats int
}

// Inspect builds (never compiles nor runs) the encoder graph of cfg for one resolution x
// resolution image and returns the output shape and the parameters of each part, counted from the
// variables the build created. resolution <= 0 means cfg.Resolution.
func Inspect(cfg Config, resolution int) (arch *Architecture, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if resolution <= 0 {
		resolution = cfg.Resolution
	}
	if resolution <= 0 {
		return nil, errors.Errorf("EfficientNet %q: no resolution given and none in the config", cfg.Name)
	}
	// The backend only records the graph (SimpleGo builds in pure Go, needs no native library and
	// allocates no tensors until execution, which never happens here).
	backend, err := simplego.New("")
	if err != nil {
		return nil, errors.Wrap(err, "creating the graph-building backend")
	}
	defer backend.Finalize()

	arch = &Architecture{Config: cfg, Resolution: resolution}
	blocks := map[int]int{}
	for _, b := range cfg.blocks() {
		blocks[b.stage]++
	}
	ctx := context.New()
	g := NewGraph(backend, "summary")
	defer func() {
		if r := recover(); r != nil {
			arch, err = nil, errors.Errorf("building EfficientNet %q at %dx%d: %v", cfg.Name, resolution, resolution, r)
		}
		g.Finalize()
	}()
	images := Parameter(g, "images", shapes.Make(cfg.DType, 1, resolution, resolution, 3))
	buildEncoder(ctx, cfg, images, func(name string, out *Node) {
		part := Part{Name: name, OutputShape: out.Shape().Dimensions}
		if stage := 0; strings.HasPrefix(name, "stage") {
			_, _ = fmt.Sscanf(name, "stage%d", &stage)
			part.Blocks = blocks[stage]
		}
		arch.Parts = append(arch.Parts, part)
	})

	index := map[string]int{}
	for i, p := range arch.Parts {
		index[p.Name] = i
	}
	prefix := "/" + EncoderScope + "/"
	for v := range ctx.IterVariables() {
		if !strings.HasPrefix(v.Scope(), prefix) {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(v.Scope(), prefix), "/")
		i, ok := index[name]
		if !ok {
			return nil, errors.Errorf("variable %s::%s belongs to no part of the encoder", v.Scope(), v.Name())
		}
		if isBNStat(v.Name()) {
			arch.Parts[i].BNStats += v.Shape().Size()
			arch.BNStats += v.Shape().Size()
		} else {
			arch.Parts[i].Trainable += v.Shape().Size()
			arch.Trainable += v.Shape().Size()
		}
	}
	return arch, nil
}

// Summary writes a Keras-like summary of the encoder of cfg at resolution x resolution (<= 0:
// cfg.Resolution): each part's output shape, blocks and parameters, then the totals. It builds
// the graph only, so it is quick even for B7.
func Summary(w io.Writer, cfg Config, resolution int) error {
	arch, err := Inspect(cfg, resolution)
	if err != nil {
		return err
	}
	return arch.Write(w)
}

// Write prints the architecture as Summary does.
func (arch *Architecture) Write(w io.Writer) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s\n", arch.Config)
	fmt.Fprintf(&sb, "Input: %s\n\n", shapeString([]int{1, arch.Resolution, arch.Resolution, 3}))
	rows := [][]string{{"Part", "Blocks", "Output shape", "Params", "BN stats"}}
	for _, p := range arch.Parts {
		blocks := "-"
		if p.Blocks > 0 {
			blocks = fmt.Sprint(p.Blocks)
		}
		rows = append(rows, []string{p.Name, blocks, shapeString(p.OutputShape), thousands(p.Trainable), thousands(p.BNStats)})
	}
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], len(cell))
		}
	}
	for r, row := range rows {
		// Names left-aligned, numbers and shapes right-aligned, as Keras does.
		fmt.Fprintf(&sb, "%-*s", widths[0], row[0])
		for i, cell := range row[1:] {
			fmt.Fprintf(&sb, "  %*s", widths[i+1], cell)
		}
		sb.WriteByte('\n')
		if r == 0 {
			total := len(widths) * 2
			for _, w := range widths {
				total += w
			}
			sb.WriteString(strings.Repeat("-", total-2) + "\n")
		}
	}
	fmt.Fprintf(&sb, "\nTrainable params:                    %s\n", thousands(arch.Trainable))
	fmt.Fprintf(&sb, "Non-trainable (batch-norm mean/var): %s\n", thousands(arch.BNStats))
	fmt.Fprintf(&sb, "Total params:                        %s\n", thousands(arch.Trainable+arch.BNStats))
	fmt.Fprintf(&sb, "Output features:                     %d\n", arch.Config.HeadChannels())
	_, err := io.WriteString(w, sb.String())
	return err
}

// shapeString prints dims Keras-style, with the batch axis as "B".
func shapeString(dims []int) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = fmt.Sprint(d)
	}
	if len(parts) > 0 {
		parts[0] = "B"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// thousands formats n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
