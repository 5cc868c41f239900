package tpu

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/pkg/errors"
)

// Backend kinds a spec resolves to.
const (
	// KindAuto picks the best backend present: tpu > cuda > cpu > go.
	KindAuto = "auto"
	// KindXLA runs XLA through a PJRT plugin (named or given by absolute path).
	KindXLA = "xla"
	// KindGo is GoMLX's pure-Go SimpleGo backend: no native library, works anywhere, slow.
	KindGo = "go"
)

// Plugin names we know how to find and explain; any other name is still searched for with go-xla's
// file name patterns (pjrt_c_api_<name>_plugin.so, ...).
const (
	PluginTPU  = "tpu"
	PluginCUDA = "cuda"
	PluginCPU  = "cpu"
)

// autoOrder is the preference order of "auto": fastest hardware first.
var autoOrder = []string{PluginTPU, PluginCUDA, PluginCPU}

// ValidSpecs lists the accepted -backend values, for usage texts and errors.
var ValidSpecs = []string{
	"auto", "tpu", "cuda", "cpu", "go",
	"go:<simplego options>", "xla", "xla:<plugin name>", "xla:/abs/path/plugin.so", "xla:<plugin>,<xla options>",
}

// Spec is a parsed -backend value.
type Spec struct {
	// Kind is KindAuto, KindXLA or KindGo.
	Kind string
	// Plugin is, for KindXLA, a plugin name ("tpu", "cuda", "cpu", ...) or an absolute path to a plugin file.
	// Empty for KindXLA means "the best XLA plugin present" (tpu > cuda > cpu).
	Plugin string
	// Options are the comma-separated options after the plugin name (KindXLA: GoMLX's xla options such as
	// "tf32" or "shared_buffers") or the SimpleGo configuration (KindGo, e.g. "parallelism=2").
	Options []string
}

// IsPath reports whether the spec names a plugin file by absolute path.
func (s Spec) IsPath() bool { return s.Kind == KindXLA && filepath.IsAbs(s.Plugin) }

// String formats the spec back in GoMLX's "backend:config" form.
func (s Spec) String() string {
	switch s.Kind {
	case KindAuto:
		return KindAuto
	case KindGo:
		if len(s.Options) == 0 {
			return KindGo
		}
		return KindGo + ":" + strings.Join(s.Options, ",")
	}
	config := strings.Join(append([]string{s.Plugin}, s.Options...), ",")
	if config == "" {
		return KindXLA
	}
	return KindXLA + ":" + config
}

func invalidSpec(spec, why string) error {
	return errors.Errorf("invalid backend %q: %s; valid values are: %s", spec, why, strings.Join(ValidSpecs, ", "))
}

// ParseSpec parses a -backend value: one of auto, tpu, cuda, cpu, go, or a GoMLX spec string
// ("xla:cpu", "xla:/abs/path/plugin.so", "xla:cuda,tf32", "go:parallelism=2"). It only parses: nothing is
// searched or loaded.
func ParseSpec(spec string) (Spec, error) {
	spec = strings.TrimSpace(spec)
	name, config, hasConfig := strings.Cut(spec, ":")
	var options []string
	if hasConfig {
		for _, o := range strings.Split(config, ",") {
			if o = strings.TrimSpace(o); o != "" {
				options = append(options, o)
			}
		}
	}
	switch name {
	case "", KindAuto:
		if hasConfig {
			return Spec{}, invalidSpec(spec, "auto takes no options")
		}
		return Spec{Kind: KindAuto}, nil
	case PluginTPU, PluginCUDA, PluginCPU:
		if hasConfig {
			return Spec{}, invalidSpec(spec, "options go after the xla: form, e.g. xla:"+name+",tf32")
		}
		return Spec{Kind: KindXLA, Plugin: name}, nil
	case KindGo:
		for _, o := range options {
			if key, _, _ := strings.Cut(o, "="); !slices.Contains(simpleGoOptions, key) {
				return Spec{}, invalidSpec(spec, "unknown SimpleGo option "+key+" (known: "+strings.Join(simpleGoOptions, ", ")+")")
			}
		}
		return Spec{Kind: KindGo, Options: options}, nil
	case KindXLA:
		if !hasConfig {
			return Spec{Kind: KindXLA}, nil
		}
		// The first config element is the plugin (GoMLX's convention); the rest are options.
		// A path may not contain commas: that is GoMLX's restriction too.
		plugin, rest, _ := strings.Cut(config, ",")
		plugin = strings.TrimSpace(plugin)
		options = options[:0]
		for _, o := range strings.Split(rest, ",") {
			if o = strings.TrimSpace(o); o != "" {
				options = append(options, o)
			}
		}
		if len(options) == 0 {
			options = nil
		}
		if plugin == "" {
			return Spec{}, invalidSpec(spec, "empty plugin name after xla:")
		}
		if strings.ContainsAny(plugin, `/\`) && !filepath.IsAbs(plugin) {
			return Spec{}, invalidSpec(spec, "a plugin file must be given by absolute path")
		}
		return Spec{Kind: KindXLA, Plugin: plugin, Options: options}, nil
	}
	return Spec{}, invalidSpec(spec, "unknown backend "+name)
}

// simpleGoOptions are the configuration keys GoMLX v0.26.0's simplego.New accepts.
var simpleGoOptions = []string{"parallelism", "dotgeneral_small", "dotgeneral_large", "dotgeneral_check",
	"ops_sequential", "ops_parallel"}
