package tpu

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Spec
		str  string
	}{
		{"", Spec{Kind: KindAuto}, "auto"},
		{"auto", Spec{Kind: KindAuto}, "auto"},
		{" tpu ", Spec{Kind: KindXLA, Plugin: "tpu"}, "xla:tpu"},
		{"cuda", Spec{Kind: KindXLA, Plugin: "cuda"}, "xla:cuda"},
		{"cpu", Spec{Kind: KindXLA, Plugin: "cpu"}, "xla:cpu"},
		{"go", Spec{Kind: KindGo}, "go"},
		{"go:", Spec{Kind: KindGo}, "go"},
		{"go:parallelism=2", Spec{Kind: KindGo, Options: []string{"parallelism=2"}}, "go:parallelism=2"},
		{"go:parallelism=2,ops_sequential", Spec{Kind: KindGo, Options: []string{"parallelism=2", "ops_sequential"}},
			"go:parallelism=2,ops_sequential"},
		{"xla", Spec{Kind: KindXLA}, "xla"},
		{"xla:cpu", Spec{Kind: KindXLA, Plugin: "cpu"}, "xla:cpu"},
		{"xla:metal", Spec{Kind: KindXLA, Plugin: "metal"}, "xla:metal"},
		{"xla:cuda,tf32", Spec{Kind: KindXLA, Plugin: "cuda", Options: []string{"tf32"}}, "xla:cuda,tf32"},
		{"xla:/opt/jax_plugins/xla_cuda13/xla_cuda_plugin.so",
			Spec{Kind: KindXLA, Plugin: "/opt/jax_plugins/xla_cuda13/xla_cuda_plugin.so"},
			"xla:/opt/jax_plugins/xla_cuda13/xla_cuda_plugin.so"},
		{"xla:/p/libtpu.so,noshared_buffers", Spec{Kind: KindXLA, Plugin: "/p/libtpu.so", Options: []string{"noshared_buffers"}},
			"xla:/p/libtpu.so,noshared_buffers"},
	} {
		got, err := ParseSpec(tc.in)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseSpec(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
		if got.String() != tc.str {
			t.Errorf("ParseSpec(%q).String() = %q, want %q", tc.in, got.String(), tc.str)
		}
		// The canonical form parses back to the same spec.
		if again, err := ParseSpec(got.String()); err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("ParseSpec(%q) round trip: %#v, %v", got.String(), again, err)
		}
	}
}

func TestParseSpecErrors(t *testing.T) {
	for _, tc := range []struct{ in, why string }{
		{"gpu", "unknown backend gpu"},
		{"TPU", "unknown backend TPU"},
		{"simplego", "unknown backend simplego"},
		{"auto:x", "auto takes no options"},
		{"cuda:tf32", "xla:cuda,tf32"},
		{"go:threads=2", "unknown SimpleGo option threads"},
		{"xla:", "empty plugin name"},
		{"xla:,tf32", "empty plugin name"},
		{"xla:plugins/cpu.so", "absolute path"},
	} {
		_, err := ParseSpec(tc.in)
		if err == nil {
			t.Errorf("ParseSpec(%q): no error", tc.in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.why) || !strings.Contains(msg, `"`+tc.in+`"`) {
			t.Errorf("ParseSpec(%q) error %q: want it to name the value and say %q", tc.in, msg, tc.why)
		}
		for _, valid := range []string{"auto", "tpu", "cuda", "cpu", "go", "xla:/abs/path/plugin.so"} {
			if !strings.Contains(msg, valid) {
				t.Errorf("ParseSpec(%q) error %q does not list valid value %q", tc.in, msg, valid)
			}
		}
	}
}
