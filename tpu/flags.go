package tpu

import (
	"flag"
	"io"
	"strings"

	"github.com/gomlx/gomlx/backends"
)

// Flags holds the backend-selection command-line flags registered by RegisterFlags.
type Flags struct {
	// Backend is the -backend value (see ParseSpec).
	Backend *string
	// InstallPlugin is -install-plugin: allow downloading a missing PJRT plugin.
	InstallPlugin *bool
}

// BackendUsage is the usage text of the -backend flag.
var BackendUsage = strings.Join([]string{
	"backend to run on:",
	"  auto  best one present, never downloading: tpu > cuda > cpu > go (default)",
	"  tpu   XLA through the TPU PJRT plugin (libtpu); refused where no TPU chips are found",
	"  cuda  XLA through the CUDA PJRT plugin (NVIDIA GPUs)",
	"  cpu   XLA through the CPU PJRT plugin",
	"  go    GoMLX's pure-Go SimpleGo backend: no native library, works anywhere, slow",
	"GoMLX spec strings also work: xla:/abs/path/plugin.so, xla:cpu, xla:cuda,tf32, go:parallelism=2.",
	"Plugins are searched in $" + PluginPathEnv + " (else go-xla's default paths) and pip's install locations.",
}, "\n")

// RegisterFlags registers -backend and -install-plugin on fs (flag.CommandLine if nil).
func RegisterFlags(fs *flag.FlagSet) *Flags {
	if fs == nil {
		fs = flag.CommandLine
	}
	return &Flags{
		Backend: fs.String("backend", KindAuto, BackendUsage),
		InstallPlugin: fs.Bool("install-plugin", false,
			"download a missing PJRT plugin (tpu/cuda/cpu) with go-xla's installer; without it nothing is downloaded"),
	}
}

// New creates the backend the flags select; progress messages (plugin chosen, installs) go to log, if not nil.
func (f *Flags) New(log io.Writer) (backends.Backend, error) {
	return NewWithOptions(*f.Backend, Options{InstallPlugins: *f.InstallPlugin, Log: log})
}
