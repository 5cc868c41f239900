// Package tpu selects the GoMLX backend the trainer runs on: XLA through a PJRT plugin
// (tpu, cuda, cpu, or a plugin file given by path) or the pure-Go SimpleGo backend (go).
//
// GoMLX's XLA backend (backends/xla, built on github.com/gomlx/go-xla, the renamed gopjrt) downloads missing
// plugins by default. This package turns that off at init: plugins are only downloaded when the caller asks
// (Options.InstallPlugins, the trainer's -install-plugin flag), and a missing plugin is one error that says
// which plugin, where it was looked for and how to get it.
package tpu

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/backends/xla"
	"github.com/pkg/errors"
)

// TestBackendEnv names the environment variable that picks the backend tests run on.
// Unset means "go" (SimpleGo), which needs no native library. Any -backend value is accepted.
const TestBackendEnv = "SUPCON_BACKEND"

// SimpleGoParallelism is the worker-pool setting we give SimpleGo unless the spec sets its own.
//
// GoMLX v0.26.0's SimpleGo pool (backends/simplego/workerspool.go) admits at most 2*parallelism tasks
// (default parallelism = NumCPU), and WaitToStart blocks the caller until a slot frees. When a graph runs in
// "parallel ops" mode each op runs in a pool slot, and a DotGeneral op (dotgeneral_small.go,
// dotgeneral_large.go) or a large Erf then calls WaitToStart for its per-batch chunks and waits for them
// while still holding its own slot. With 2*parallelism such ops ready at once (one graph with 2*NumCPU
// independent matmuls is enough; concurrent executions make it likelier), every slot is held by an op
// waiting for a slot: deadlock. Any finite value only moves the threshold; parallelism=-1 ("unlimited")
// makes WaitToStart and StartIfAvailable start a goroutine unconditionally, so no task ever waits for a
// slot and the cycle cannot form. CPU use stays bounded by GOMAXPROCS, which schedules the goroutines.
// (parallelism=0 or ops_sequential also avoid the cycle, but give up intra-op or inter-op parallelism;
// SimpleGo's convolutions are single-threaded, so inter-op parallelism is what keeps cores busy.)
// TestSimpleGoNoDeadlock checks this.
const SimpleGoParallelism = "parallelism=-1"

func init() {
	// GoMLX's xla package auto-installs (downloads) plugins on New/GetAvailablePlugins unless
	// $GOMLX_NO_AUTO_INSTALL was set before it initialized. Turn it off for every program that imports this
	// package, including code that calls backends.New() directly: downloads happen only through Install.
	xla.EnableAutoInstall(false)
}

// Options tune New.
type Options struct {
	// InstallPlugins allows downloading a missing PJRT plugin with go-xla's installer (network access):
	// the requested one, or for "auto" the one matching the hardware present (tpu, cuda, else cpu).
	InstallPlugins bool
	// Log receives progress messages (which plugin is installed/loaded). Nil discards them.
	Log io.Writer
}

// New returns the backend for a -backend value (see ParseSpec), never downloading anything.
func New(spec string) (backends.Backend, error) {
	return NewWithOptions(spec, Options{})
}

// NewWithOptions returns the backend for a -backend value.
func NewWithOptions(spec string, opts Options) (backends.Backend, error) {
	s, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	return newFromSpec(s, opts)
}

func newFromSpec(s Spec, opts Options) (backends.Backend, error) {
	switch s.Kind {
	case KindGo:
		return newSimpleGo(s)
	case KindAuto:
		best, err := resolveAuto(opts, true)
		if err != nil {
			return nil, err
		}
		return newFromSpec(best, opts)
	}
	if s.Plugin == "" { // Plain "xla": best XLA plugin present.
		best, err := resolveAuto(opts, false)
		if err != nil {
			return nil, err
		}
		return newFromSpec(best, opts)
	}
	path := s.Plugin
	name := s.Plugin
	if s.IsPath() {
		if !isFile(path) {
			return nil, errors.Errorf("PJRT plugin file %q (from backend \"xla:%s\") does not exist or is not a "+
				"regular file; give the absolute path of the plugin .so, e.g. "+
				"<site-packages>/jax_plugins/xla_cuda13/xla_cuda_plugin.so, or use -backend=go", path, path)
		}
		name = pluginNameOf(path)
	} else {
		r := findPlugin(name)
		if name == PluginTPU && (r.Path != "" || opts.InstallPlugins) && !detectTPU() {
			return nil, noTPUError(r.Path)
		}
		if r.Path == "" && opts.InstallPlugins {
			fmt.Fprintf(opts.Log, "tpu: installing PJRT plugin %q with go-xla's installer\n", name)
			installed, err := install(name)
			if err != nil {
				return nil, errors.WithMessagef(err, "installing PJRT plugin %q", name)
			}
			r = findPlugin(name)
			if r.Path == "" && isFile(installed) {
				r.Path = installed // Installed outside the search path (e.g. <dir>/nvidia/ for cuda).
			}
		}
		if r.Path == "" {
			return nil, notFoundError(r)
		}
		path = r.Path
	}
	return newXLA(path, name, s.Options, opts)
}

// resolveAuto picks the best backend present: tpu (if TPU chips and libtpu are present) > cuda (if an NVIDIA
// GPU and the plugin are present) > cpu (if the plugin is present) > go (if allowGo). With InstallPlugins the
// plugin for the best hardware present is installed when missing.
func resolveAuto(opts Options, allowGo bool) (Spec, error) {
	hardware := map[string]bool{PluginTPU: detectTPU(), PluginCUDA: hasNvidiaGPU(), PluginCPU: true}
	var searched []searchResult
	for _, name := range autoOrder {
		if !hardware[name] {
			continue
		}
		r := findPlugin(name)
		if r.Path != "" {
			fmt.Fprintf(opts.Log, "tpu: auto selected %q (%s)\n", name, r.Path)
			return Spec{Kind: KindXLA, Plugin: name}, nil
		}
		if opts.InstallPlugins {
			return Spec{Kind: KindXLA, Plugin: name}, nil // newFromSpec installs it.
		}
		searched = append(searched, r)
	}
	if allowGo {
		fmt.Fprintf(opts.Log, "tpu: auto selected \"go\" (no PJRT plugin found)\n")
		return Spec{Kind: KindGo}, nil
	}
	// Plain "xla" with nothing present: report the CPU plugin, which any machine can use.
	return Spec{}, notFoundError(searched[len(searched)-1])
}

// pluginNameOf guesses the platform of a plugin file from its name, for messages and platform-specific
// handling: go-xla's patterns, libtpu.so and jax's xla_cuda_plugin.so.
func pluginNameOf(path string) string {
	base := filepath.Base(path)
	switch {
	case strings.Contains(base, "libtpu"):
		return PluginTPU
	case strings.Contains(strings.ToLower(path), "cuda"):
		return PluginCUDA
	}
	for _, prefix := range []string{"pjrt_c_api_", "pjrt-plugin-", "pjrt_plugin_"} {
		if strings.HasPrefix(base, prefix) {
			n := strings.TrimSuffix(strings.TrimPrefix(base, prefix), filepath.Ext(base))
			return strings.TrimSuffix(n, "_plugin")
		}
	}
	return base
}

// info is what ListDevices knows about backends this package created.
type info struct {
	kind, plugin, path, config string
}

var created sync.Map // backends.Backend -> info

func newSimpleGo(s Spec) (backends.Backend, error) {
	options := s.Options
	if !slices.ContainsFunc(options, func(o string) bool { return strings.HasPrefix(o, "parallelism=") }) {
		options = append([]string{SimpleGoParallelism}, options...)
	}
	config := strings.Join(options, ",")
	b, err := simplego.New(config)
	if err != nil {
		return nil, errors.WithMessagef(err, "creating SimpleGo backend with %q", config)
	}
	created.Store(b, info{kind: "go", config: config})
	return b, nil
}

func newXLA(path, name string, xlaOptions []string, opts Options) (backends.Backend, error) {
	options := slices.Clone(xlaOptions)
	// GoMLX only enables shared (zero-copy) host buffers for a plugin *named* "cpu"; we always pass a path,
	// so restore that default for the CPU plugin.
	if name == PluginCPU && !slices.Contains(options, "noshared_buffers") && !slices.Contains(options, "shared_buffers") {
		options = append(options, "shared_buffers")
	}
	if name == PluginCUDA {
		fixCUDADataDir(path)
	}
	config := strings.Join(append([]string{path}, options...), ",")
	fmt.Fprintf(opts.Log, "tpu: loading PJRT plugin %q from %s\n", name, path)
	// An absolute path makes GoMLX skip its own plugin search and auto-install entirely.
	b, err := xla.NewWithOptions(config, nil)
	if err != nil {
		return nil, errors.WithMessagef(err, "loading PJRT plugin %q from %s (try -backend=go if this machine "+
			"cannot run it)", name, path)
	}
	created.Store(backends.Backend(b), info{kind: name, plugin: name, path: path, config: config})
	return b, nil
}

// fixCUDADataDir works around go-xla v0.1.4's cudaPluginCheckDrivers, which, when it finds an nvidia/
// directory next to the CUDA plugin (the layout go-xla's installer creates), sets XLA_FLAGS to
// --xla_gpu_cuda_data_dir=/home/janpf/.local/lib/go-xla/nvidia (a hard-coded path). It leaves XLA_FLAGS alone
// when the flag is already present, so we set it first to the directory it meant.
func fixCUDADataDir(pluginPath string) {
	if v := cudaDataDirFlags(os.Getenv("XLA_FLAGS"), pluginPath); v != "" {
		_ = os.Setenv("XLA_FLAGS", v)
	}
}

// cudaDataDirFlags returns the new XLA_FLAGS value, or "" to leave it as it is.
func cudaDataDirFlags(xlaFlags, pluginPath string) string {
	if strings.Contains(xlaFlags, "--xla_gpu_cuda_data_dir") {
		return ""
	}
	// Same rule as go-xla's cudaNVidiaPath: ../nvidia relative to the plugin file's directory.
	nvidia := filepath.Join(filepath.Dir(filepath.Dir(pluginPath)), "nvidia")
	if info, err := os.Stat(nvidia); err != nil || !info.IsDir() {
		return ""
	}
	return strings.TrimSpace(xlaFlags + " --xla_gpu_cuda_data_dir=" + nvidia)
}

var (
	testBackends   = map[string]backends.Backend{}
	testBackendsMu sync.Mutex
)

// ForTests returns the backend named by $SUPCON_BACKEND (default "go"; any -backend value, e.g. "cpu" or
// "xla:/abs/path/plugin.so"), panicking on error: tests cannot run without one. Each spec's backend is
// created once per process and shared, so tensors made in one test can be fed to another's graphs, a
// PJRT client (costly; libtpu allows one per process) is made once, and SimpleGo announces its
// configuration once: don't Finalize it.
func ForTests() backends.Backend {
	spec := os.Getenv(TestBackendEnv)
	if spec == "" {
		spec = KindGo
	}
	s, err := ParseSpec(spec)
	if err != nil {
		panic(errors.WithMessagef(err, "$%s", TestBackendEnv))
	}
	testBackendsMu.Lock()
	defer testBackendsMu.Unlock()
	if b, ok := testBackends[spec]; ok {
		return b
	}
	b, err := newFromSpec(s, Options{Log: io.Discard})
	if err != nil {
		panic(errors.WithMessagef(err, "$%s=%q", TestBackendEnv, spec))
	}
	testBackends[spec] = b
	return b
}

// ListDevices prints the backend's name, description and devices with their kinds.
func ListDevices(w io.Writer, backend backends.Backend) error {
	if backend == nil {
		return errors.New("ListDevices: nil backend")
	}
	if backend.IsFinalized() {
		return errors.Errorf("ListDevices: backend %q is finalized", backend.Name())
	}
	in, known := created.Load(backend)
	var inf info
	if known {
		inf = in.(info)
	}
	p := &errWriter{w: w}
	p.printf("Backend:     %s\n", backend.Name())
	p.printf("Description: %s\n", backend.Description())
	switch {
	case inf.kind == "go":
		p.printf("Config:      %s (GOMAXPROCS=%d, NumCPU=%d)\n", inf.config, runtime.GOMAXPROCS(0), runtime.NumCPU())
	case inf.path != "":
		p.printf("Plugin:      %s (%s)\n", inf.plugin, inf.path)
	}
	kind := inf.kind
	switch kind {
	case "":
		kind = "unknown"
	case "go":
		kind = "cpu (pure Go)"
	}
	n := backend.NumDevices()
	p.printf("Devices:     %d\n", n)
	for i := range n {
		p.printf("  #%d  kind=%s  %s\n", i, kind, backend.DeviceDescription(backends.DeviceNum(i)))
	}
	return p.err
}

// errWriter keeps the first write error so ListDevices can report it once.
type errWriter struct {
	w   io.Writer
	err error
}

func (p *errWriter) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}
