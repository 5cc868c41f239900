package model

import (
	"slices"
	"strings"
	"testing"

	"github.com/supcon-go/supcon/model/ops"
)

// TestInspectMatchesTorchvision compares each part's parameters with torchvision's features.0..8
// for B0..B7, at the published resolutions (graph building only).
func TestInspectMatchesTorchvision(t *testing.T) {
	ref := loadReference(t)
	for _, name := range ModelNames {
		cfg, _ := ConfigFor(name)
		arch, err := Inspect(cfg, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := ref.Architectures[name]
		names := []string{"stem", "stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "stage7", "head", "pool"}
		if len(arch.Parts) != len(names) {
			t.Fatalf("%s: %d parts, want %d", name, len(arch.Parts), len(names))
		}
		for i, p := range arch.Parts {
			if p.Name != names[i] {
				t.Errorf("%s: part %d is %q, want %q", name, i, p.Name, names[i])
			}
			if i < len(want.PartTrainable) && (p.Trainable != want.PartTrainable[i] || p.BNStats != want.PartBNStats[i]) {
				t.Errorf("%s %s: %d parameters + %d statistics, torchvision features.%d: %d + %d",
					name, p.Name, p.Trainable, p.BNStats, i, want.PartTrainable[i], want.PartBNStats[i])
			}
			if i >= 1 && i <= 7 && p.Blocks != want.Repeats[i-1] {
				t.Errorf("%s %s: %d blocks, want %d", name, p.Name, p.Blocks, want.Repeats[i-1])
			}
		}
		if arch.Trainable != want.Trainable || arch.BNStats != want.BNStats {
			t.Errorf("%s: totals %d + %d, torchvision %d + %d", name, arch.Trainable, arch.BNStats, want.Trainable, want.BNStats)
		}
		// The resolution is divided by 32 (five stride-2 layers, rounding up).
		r := (cfg.Resolution + 31) / 32
		if head := arch.Parts[8].OutputShape; !slices.Equal(head, []int{1, r, r, want.Head}) {
			t.Errorf("%s at %d: head output %v, want [1 %d %d %d]", name, cfg.Resolution, head, r, r, want.Head)
		}
	}
}

func TestSummary(t *testing.T) {
	cfg, _ := ConfigFor("b3")
	var sb strings.Builder
	if err := Summary(&sb, cfg, 300); err != nil {
		t.Fatal(err)
	}
	text := sb.String()
	for _, want := range []string{"EfficientNet-B3", "width 1.2", "SAME padding", "Input: (B, 300, 300, 3)",
		"(B, 150, 150, 40)", "(B, 10, 10, 1536)", "(B, 1536)", "stage7", "10,696,232", "87,296", "10,783,528"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	if lines := strings.Count(text, "\n"); lines < 15 {
		t.Errorf("summary has %d lines:\n%s", lines, text)
	}
	cfg.Padding = ops.Padding(9)
	if err := Summary(&sb, cfg, 300); err == nil || !strings.Contains(err.Error(), "padding") {
		t.Errorf("invalid padding: error %v", err)
	}
	cfg, _ = ConfigFor("b0")
	if err := Summary(&sb, cfg, -1); err != nil {
		t.Errorf("resolution -1 should mean the published 224: %v", err)
	}
	cfg.Resolution = 0
	if err := Summary(&sb, cfg, 0); err == nil || !strings.Contains(err.Error(), "resolution") {
		t.Errorf("no resolution: error %v", err)
	}
}
