package pretrained

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Naming is the checkpoint layout a weights file follows.
type Naming int

const (
	// NamingTorchvision is torchvision's efficientnet_bN state dict (features.S.B.block.I...).
	NamingTorchvision Naming = iota + 1
	// NamingTimm is timm's efficientnet_bN / tf_efficientnet_bN state dict (conv_stem, blocks.S.B...).
	NamingTimm
)

func (n Naming) String() string {
	switch n {
	case NamingTorchvision:
		return "torchvision"
	case NamingTimm:
		return "timm"
	}
	return fmt.Sprintf("Naming(%d)", int(n))
}

// kind says how a PyTorch tensor is laid out and so how it must be rearranged for our variables.
type kind int

const (
	// kindVector: 1-D tensors (batch-norm parameters and statistics, biases), copied as they are.
	kindVector kind = iota
	// kindConv: a k×k convolution kernel, PyTorch OIHW, stored by us as HWIO. Depthwise kernels
	// [C,1,k,k] become [k,k,1,C] by the same permutation.
	kindConv
	// kindPointwise: a 1×1 convolution [O,I,1,1] (expand, project, head and the SE fully-connected
	// layers, which both libraries write as 1×1 convolutions), stored by us as a 2-D [I,O] matrix.
	kindPointwise
)

// target is where one file tensor goes: the variable path relative to the encoder scope
// ("stage2/block0/expand/conv/weights") and how to rearrange the data.
type target struct {
	path string
	kind kind
}

// detectNaming looks at the tensor names only: the two layouts share no top-level module name.
func detectNaming(names []string) (Naming, error) {
	var tv, timm bool
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "features."):
			tv = true
		case strings.HasPrefix(n, "conv_stem.") || strings.HasPrefix(n, "blocks.") || strings.HasPrefix(n, "conv_head."):
			timm = true
		}
	}
	switch {
	case tv && timm:
		return 0, fmt.Errorf("the file mixes torchvision (features.*) and timm (conv_stem/blocks/conv_head) tensor names")
	case tv:
		return NamingTorchvision, nil
	case timm:
		return NamingTimm, nil
	}
	sample := names
	if len(sample) > 5 {
		sample = sample[:5]
	}
	return 0, fmt.Errorf("the file follows neither torchvision's EfficientNet naming (features.*) nor timm's "+
		"(conv_stem.*, blocks.*); first tensor names: %q", sample)
}

// bnField maps PyTorch BatchNorm2d tensor suffixes to our batch-norm variable names.
var bnField = map[string]string{
	"weight":       "scale",
	"bias":         "offset",
	"running_mean": "mean",
	"running_var":  "variance",
}

// mapBN maps "<suffix>" of a batch-norm module to "<prefix>/bn/<ours>".
func mapBN(prefix, suffix string) (target, bool) {
	f, ok := bnField[suffix]
	if !ok {
		return target{}, false
	}
	return target{path: prefix + "/bn/" + f, kind: kindVector}, true
}

// mapSE maps a squeeze-excitation layer (reduce/expand) weight or bias.
func mapSE(prefix, layer, suffix string) (target, bool) {
	switch suffix {
	case "weight":
		return target{path: prefix + "/se/" + layer + "/weights", kind: kindPointwise}, true
	case "bias":
		return target{path: prefix + "/se/" + layer + "/biases", kind: kindVector}, true
	}
	return target{}, false
}

// convTarget is the kernel of the convolution of a conv+bn pair ("<prefix>/conv/weights").
func convTarget(prefix string, k kind) target {
	return target{path: prefix + "/conv/weights", kind: k}
}

var (
	tvFeature = regexp.MustCompile(`^features\.(\d+)\.(.+)$`)
	tvBlock   = regexp.MustCompile(`^(\d+)\.block\.(\d+)\.(.+)$`) // applied to what follows "features.S."
	timmBlock = regexp.MustCompile(`^blocks\.(\d+)\.(\d+)\.(.+)$`)
)

// mapper turns file tensor names into targets. It is built from the whole name list because
// the meaning of a block's sub-module index depends on whether that block has an expansion
// convolution, which only the block's other tensors tell.
type mapper interface {
	target(name string) (target, bool)
}

// torchvisionMapper: features.0 is the stem, features.1..N-1 the stages, features.N the head
// (N = the largest index, 8 for the stock models; a custom inverted_residual_setting may differ).
// Inside a stage block, MBConv's Sequential is [expand?, depthwise, se, project]: without an
// expansion (expand ratio 1) every index shifts down by one.
type torchvisionMapper struct {
	head      int
	hasExpand map[string]bool // "S.B" -> block has expand conv
}

func newTorchvisionMapper(names []string) *torchvisionMapper {
	m := &torchvisionMapper{head: -1, hasExpand: map[string]bool{}}
	for _, n := range names {
		sm := tvFeature.FindStringSubmatch(n)
		if sm == nil {
			continue
		}
		idx, _ := strconv.Atoi(sm[1])
		m.head = max(m.head, idx)
		if bm := tvBlock.FindStringSubmatch(sm[2]); bm != nil && bm[2] == "3" {
			// Only the expanded layout has a fourth sub-module (the projection).
			m.hasExpand[sm[1]+"."+bm[1]] = true
		}
	}
	return m
}

func (m *torchvisionMapper) target(name string) (target, bool) {
	sm := tvFeature.FindStringSubmatch(name)
	if sm == nil {
		return target{}, false
	}
	idx, _ := strconv.Atoi(sm[1])
	rest := sm[2]
	convBN := func(prefix, rest string, k kind) (target, bool) {
		// Conv2dNormActivation: ".0" is the conv (no bias), ".1" the batch norm.
		if rest == "0.weight" {
			return convTarget(prefix, k), true
		}
		if s, ok := strings.CutPrefix(rest, "1."); ok {
			return mapBN(prefix, s)
		}
		return target{}, false
	}
	switch {
	case idx == 0:
		return convBN("stem", rest, kindConv)
	case idx == m.head:
		return convBN("head", rest, kindPointwise)
	}
	bm := tvBlock.FindStringSubmatch(rest)
	if bm == nil {
		return target{}, false
	}
	prefix := fmt.Sprintf("stage%d/block%s", idx, bm[1])
	sub, _ := strconv.Atoi(bm[2])
	part := bm[3]
	if !m.hasExpand[sm[1]+"."+bm[1]] {
		sub++ // Align with the expanded layout: 1 depthwise, 2 SE, 3 project.
	}
	switch sub {
	case 0:
		return convBN(prefix+"/expand", part, kindPointwise)
	case 1:
		return convBN(prefix+"/depthwise", part, kindConv)
	case 2:
		if s, ok := strings.CutPrefix(part, "fc1."); ok {
			return mapSE(prefix, "reduce", s)
		}
		if s, ok := strings.CutPrefix(part, "fc2."); ok {
			return mapSE(prefix, "expand", s)
		}
	case 3:
		return convBN(prefix+"/project", part, kindPointwise)
	}
	return target{}, false
}

// timmMapper: conv_stem/bn1, blocks.{s-1}.{b}, conv_head/bn2. Stage blocks are either timm's
// DepthwiseSeparableConv (conv_dw, bn1, se, conv_pw, bn2: expand ratio 1) or InvertedResidual
// (conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3): the same names mean different things in each,
// so a block is classified by whether it has a conv_pwl.
type timmMapper struct {
	inverted map[string]bool // "i.b" -> InvertedResidual
}

func newTimmMapper(names []string) *timmMapper {
	m := &timmMapper{inverted: map[string]bool{}}
	for _, n := range names {
		if bm := timmBlock.FindStringSubmatch(n); bm != nil && strings.HasPrefix(bm[3], "conv_pwl.") {
			m.inverted[bm[1]+"."+bm[2]] = true
		}
	}
	return m
}

func (m *timmMapper) target(name string) (target, bool) {
	switch {
	case name == "conv_stem.weight":
		return convTarget("stem", kindConv), true
	case strings.HasPrefix(name, "bn1."):
		return mapBN("stem", strings.TrimPrefix(name, "bn1."))
	case name == "conv_head.weight":
		return convTarget("head", kindPointwise), true
	case strings.HasPrefix(name, "bn2."):
		return mapBN("head", strings.TrimPrefix(name, "bn2."))
	}
	bm := timmBlock.FindStringSubmatch(name)
	if bm == nil {
		return target{}, false
	}
	stage, _ := strconv.Atoi(bm[1])
	prefix := fmt.Sprintf("stage%d/block%s", stage+1, bm[2])
	part := bm[3]
	if s, ok := strings.CutPrefix(part, "se.conv_reduce."); ok {
		return mapSE(prefix, "reduce", s)
	}
	if s, ok := strings.CutPrefix(part, "se.conv_expand."); ok {
		return mapSE(prefix, "expand", s)
	}
	var convs, bns map[string]string // module name -> our sub-scope
	if m.inverted[bm[1]+"."+bm[2]] {
		convs = map[string]string{"conv_pw": "expand", "conv_dw": "depthwise", "conv_pwl": "project"}
		bns = map[string]string{"bn1": "expand", "bn2": "depthwise", "bn3": "project"}
	} else {
		convs = map[string]string{"conv_dw": "depthwise", "conv_pw": "project"}
		bns = map[string]string{"bn1": "depthwise", "bn2": "project"}
	}
	module, field, ok := strings.Cut(part, ".")
	if !ok {
		return target{}, false
	}
	if sub, ok := convs[module]; ok && field == "weight" {
		k := kindPointwise
		if sub == "depthwise" {
			k = kindConv
		}
		return convTarget(prefix+"/"+sub, k), true
	}
	if sub, ok := bns[module]; ok {
		return mapBN(prefix+"/"+sub, field)
	}
	return target{}, false
}

func newMapper(n Naming, names []string) mapper {
	if n == NamingTorchvision {
		return newTorchvisionMapper(names)
	}
	return newTimmMapper(names)
}

// sortedKeys is used so that every listing in errors and reports is deterministic.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
