package tpu

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"

	"github.com/pkg/errors"
)

// PluginPathEnv is go-xla's variable for the plugin search path: a ":"-separated list of directories that,
// when set, replaces the default search paths.
const PluginPathEnv = "PJRT_PLUGIN_LIBRARY_PATH"

// TPULibraryEnv is the variable JAX uses to point at libtpu.so; we honour it too.
const TPULibraryEnv = "TPU_LIBRARY_PATH"

// PluginSearchDirs returns the directories searched for PJRT plugins, in order, computed from the environment
// now. It reproduces go-xla v0.1.4's rules (pkg/pjrt/dynamiclib_base.go and dynamiclib_posix.go):
// $PJRT_PLUGIN_LIBRARY_PATH if set (even if empty), else ~/.local/lib/go-xla{,/nvidia}, ~/.local/lib/gomlx/pjrt,
// /usr/local/lib/go-xla{,/nvidia}, /usr/local/lib/gomlx/pjrt, the absolute entries of $LD_LIBRARY_PATH and the
// directories of /etc/ld.so.conf. go-xla computes its list once at program start; we recompute it at each call
// so that what we report is what the environment says now (and so tests can point it at an empty directory).
func PluginSearchDirs() []string {
	if v, found := os.LookupEnv(PluginPathEnv); found {
		var dirs []string
		for _, d := range strings.Split(v, ":") {
			if d != "" {
				dirs = append(dirs, d)
			}
		}
		return dirs
	}
	var dirs []string
	if home, err := os.UserHomeDir(); err == nil {
		goXLA := filepath.Join(home, ".local", "lib", "go-xla")
		dirs = append(dirs, goXLA, filepath.Join(goXLA, "nvidia"), filepath.Join(home, ".local", "lib", "gomlx", "pjrt"))
	}
	dirs = append(dirs, "/usr/local/lib/go-xla", "/usr/local/lib/go-xla/nvidia", "/usr/local/lib/gomlx/pjrt")
	for _, d := range strings.Split(os.Getenv("LD_LIBRARY_PATH"), ":") {
		if d != "" && filepath.IsAbs(d) {
			dirs = append(dirs, d)
		}
	}
	if runtime.GOOS == "linux" {
		dirs = appendLdSoConf(dirs, "/etc/ld.so.conf", 0)
	}
	return dirs
}

var (
	reLdConfInclude = regexp.MustCompile(`^\s*include\s+(.*?)\s*$`)
	reLdConfComment = regexp.MustCompile(`^\s*(#|$)`)
)

// appendLdSoConf appends the directories listed in an ld.so.conf file, following "include" globs
// (depth-limited, so an include loop cannot recurse forever).
func appendLdSoConf(dirs []string, file string, depth int) []string {
	if depth > 8 {
		return dirs
	}
	f, err := os.Open(file)
	if err != nil {
		return dirs
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := reLdConfInclude.FindStringSubmatch(line); m != nil {
			pattern := m[1]
			if !filepath.IsAbs(pattern) {
				pattern = filepath.Join(filepath.Dir(file), pattern)
			}
			includes, _ := filepath.Glob(pattern)
			for _, inc := range includes {
				dirs = appendLdSoConf(dirs, inc, depth+1)
			}
		} else if !reLdConfComment.MatchString(line) {
			dirs = append(dirs, strings.TrimSpace(line))
		}
	}
	return dirs
}

// pluginFileNames are the file names go-xla recognizes for plugin <name> (pkg/pjrt/dynamiclib_base.go).
func pluginFileNames(name string) []string {
	ext := ".so"
	switch runtime.GOOS {
	case "darwin":
		ext = ".dylib"
	case "windows":
		ext = ".dll"
	}
	return []string{"pjrt_c_api_" + name + "_plugin" + ext, "pjrt-plugin-" + name + ext, "pjrt_plugin_" + name + ext}
}

// pythonPackageDirs returns the site-packages/dist-packages directories where `pip install` may have put
// libtpu or jax's CUDA plugin: the active virtualenv/conda env, the user's ~/.local, and the system ones.
func pythonPackageDirs() []string {
	var patterns []string
	for _, env := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if p := os.Getenv(env); p != "" && filepath.IsAbs(p) {
			patterns = append(patterns, filepath.Join(p, "lib", "python3*", "site-packages"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		patterns = append(patterns, filepath.Join(home, ".local", "lib", "python3*", "site-packages"))
	}
	patterns = append(patterns,
		"/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages",
		"/usr/lib/python3/dist-packages", "/opt/conda/lib/python3*/site-packages")
	var dirs []string
	for _, p := range patterns {
		matches, _ := filepath.Glob(p)
		dirs = append(dirs, matches...)
	}
	return dirs
}

// extraCandidates are the well-known places, outside go-xla's search, where the usual install methods put
// the TPU and CUDA plugins under names go-xla does not recognize: pip's libtpu (libtpu/libtpu.so) and
// jax-cuda13-pjrt / jax-cuda12-pjrt (jax_plugins/xla_cuda13/xla_cuda_plugin.so). Like go-xla, we stop looking
// outside $PJRT_PLUGIN_LIBRARY_PATH when it is set, except for $TPU_LIBRARY_PATH, which names a file explicitly.
func extraCandidates(name string) []string {
	var files []string
	if name == PluginTPU {
		if p := os.Getenv(TPULibraryEnv); p != "" {
			files = append(files, p)
		}
	}
	if _, set := os.LookupEnv(PluginPathEnv); set {
		return files
	}
	switch name {
	case PluginTPU:
		for _, d := range pythonPackageDirs() {
			files = append(files, filepath.Join(d, "libtpu", "libtpu.so"))
		}
		// The places go-xla's installer takes as a sign of a TPU VM image with libtpu preinstalled.
		files = append(files, "/lib/libtpu.so", "/usr/lib/libtpu.so", "/usr/local/lib/libtpu.so")
	case PluginCUDA:
		for _, d := range pythonPackageDirs() {
			for _, v := range []string{"xla_cuda13", "xla_cuda12"} {
				files = append(files, filepath.Join(d, "jax_plugins", v, "xla_cuda_plugin.so"))
			}
		}
	}
	return files
}

// searchResult says where a plugin was found, or everywhere it was looked for.
type searchResult struct {
	Name     string
	Path     string   // The plugin file found; "" if none.
	Dirs     []string // Directories searched for go-xla's file names.
	Extras   []string // Other files checked.
	EnvIsSet bool     // Whether $PJRT_PLUGIN_LIBRARY_PATH was set.
	EnvValue string
}

// findPlugin looks for plugin <name> the way go-xla does, plus the extra well-known files; it only stats
// files (no dlopen, no network), so it is fast and side-effect free.
func findPlugin(name string) searchResult {
	r := searchResult{Name: name, Dirs: PluginSearchDirs(), Extras: extraCandidates(name)}
	r.EnvValue, r.EnvIsSet = os.LookupEnv(PluginPathEnv)
	for _, d := range r.Dirs {
		for _, f := range pluginFileNames(name) {
			if isFile(filepath.Join(d, f)) {
				r.Path = filepath.Join(d, f)
				return r
			}
		}
	}
	for _, f := range r.Extras {
		if isFile(f) {
			r.Path = f
			return r
		}
	}
	return r
}

func isFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir()
}

// hasNvidiaGPU reports whether an NVIDIA device node is present. Unlike go-xla it doesn't run nvidia-smi:
// a device node is what a CUDA plugin needs, and the check must stay instant.
func hasNvidiaGPU() bool {
	m, _ := filepath.Glob("/dev/nvidia[0-9]*")
	return len(m) > 0
}

// TPU PCI ids, as JAX's hardware_utils.py detects them: Google's vendor id (which Google's gVNIC network
// card shares, hence the device list) and the device ids of TPU v2/v3, v4, v5p, v5e, v6e and TPU7x chips.
const googlePCIVendor = "0x1ae0"

var tpuPCIDevices = []string{"0x0027", "0x0056", "0x005e", "0x0062", "0x0063", "0x006f", "0x0076"}

// hasTPU reports whether TPU chips are attached. Used by "auto" and "tpu": loading libtpu on a machine
// without TPUs can wait on the GCE metadata server (JAX checks the same PCI ids before loading it, for
// this reason), and a backend choice must fail in seconds, never wait on the network.
func hasTPU() bool { return hasTPUIn("/dev", "/sys/bus/pci/devices") }

// detectTPU is hasTPU, replaced by tests that need a machine with (or without) TPU chips.
var detectTPU = hasTPU

// noTPUError is the error of -backend=tpu on a machine without TPU chips; libtpu is the file found ("" if
// none, when -install-plugin would download it). Loading a plugin by path (xla:/path/libtpu.so) skips
// the check, for TPU chips this detection does not know.
func noTPUError(libtpu string) error {
	found := "libtpu is not installed"
	if libtpu != "" {
		found = "libtpu was found at " + libtpu
	}
	return errors.Errorf("backend \"tpu\": this machine has no TPU chips (no /dev/accel* device, no Google TPU "+
		"device under /sys/bus/pci/devices); %s, but it is not loaded (nor downloaded) since without chips it "+
		"can wait minutes for the GCE metadata server. Use -backend=go (works anywhere), cpu or cuda; to load "+
		"libtpu anyway, give its path: -backend=xla:/path/to/libtpu.so", found)
}

// hasTPUIn looks for TPU device nodes (<devDir>/accel0..., TPU v2-v5e) or TPU PCI devices under pciDir.
func hasTPUIn(devDir, pciDir string) bool {
	if m, _ := filepath.Glob(filepath.Join(devDir, "accel[0-9]*")); len(m) > 0 {
		return true
	}
	devices, _ := filepath.Glob(filepath.Join(pciDir, "*"))
	for _, d := range devices {
		vendor, err1 := os.ReadFile(filepath.Join(d, "vendor"))
		device, err2 := os.ReadFile(filepath.Join(d, "device"))
		if err1 == nil && err2 == nil && strings.TrimSpace(string(vendor)) == googlePCIVendor &&
			slices.Contains(tpuPCIDevices, strings.TrimSpace(string(device))) {
			return true
		}
	}
	return false
}

// howToGet explains how to obtain each plugin, for the "not found" error.
func howToGet(name string) string {
	var b strings.Builder
	switch name {
	case PluginTPU:
		b.WriteString("  - On a Cloud TPU VM: `pip install libtpu` puts it in <site-packages>/libtpu/libtpu.so, which is\n" +
			"    found automatically (virtualenv, ~/.local, /usr/local); elsewhere set TPU_LIBRARY_PATH=/path/to/libtpu.so\n" +
			"    or pass -backend=xla:/path/to/libtpu.so.\n" +
			"  - Or pass -install-plugin to download libtpu from PyPI with go-xla's installer into\n" +
			"    ~/.local/lib/go-xla/pjrt_c_api_tpu_plugin.so.\n")
	case PluginCUDA:
		b.WriteString("  - JAX's CUDA plugin: `pip install \"jax[cuda13]\"` (or jax[cuda12]) installs the jax-cuda13-pjrt package,\n" +
			"    <site-packages>/jax_plugins/xla_cuda13/xla_cuda_plugin.so (found automatically), with the NVIDIA libraries\n" +
			"    in <site-packages>/nvidia; or pass -backend=xla:/abs/path/to/xla_cuda_plugin.so.\n" +
			"  - Or pass -install-plugin to download the plugin and NVIDIA libraries with go-xla's installer into\n" +
			"    ~/.local/lib/go-xla/nvidia/ (also: go run github.com/gomlx/go-xla/cmd/pjrt_installer@latest).\n" +
			"  - -backend=auto only considers cuda where an NVIDIA GPU device (/dev/nvidia0) is present.\n")
	case PluginCPU:
		b.WriteString("  - Pass -install-plugin to download it with go-xla's installer, or run\n" +
			"    `go run github.com/gomlx/go-xla/cmd/pjrt_installer@latest -autoinstall` once.\n")
	default:
		fmt.Fprintf(&b, "  - Install it under one of the directories above as %s, or pass -backend=xla:/abs/path/to/plugin.so.\n",
			pluginFileNames(name)[0])
	}
	fmt.Fprintf(&b, "  - -install-plugin installs into ~/.local/lib/go-xla (into the first %s directory when set).\n", PluginPathEnv)
	b.WriteString("  - Or run with -backend=go: the pure-Go SimpleGo backend needs no plugin and works anywhere (slowly).")
	return b.String()
}

// notFoundError is the one error a missing plugin gives: which plugin, where it was looked for, how to get it.
func notFoundError(r searchResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "PJRT plugin %q not found (no plugin is downloaded unless you ask with -install-plugin).\n", r.Name)
	fmt.Fprintf(&b, "Looked for %s in:\n", strings.Join(pluginFileNames(r.Name), ", "))
	if r.EnvIsSet {
		fmt.Fprintf(&b, "  %s=%q:\n", PluginPathEnv, r.EnvValue)
	} else {
		fmt.Fprintf(&b, "  %s is unset, so go-xla's default paths:\n", PluginPathEnv)
	}
	if len(r.Dirs) == 0 {
		b.WriteString("    (no directories)\n")
	}
	for _, d := range r.Dirs {
		fmt.Fprintf(&b, "    %s\n", d)
	}
	if len(r.Extras) > 0 {
		b.WriteString("  and the files:\n")
		for _, f := range r.Extras {
			fmt.Fprintf(&b, "    %s\n", f)
		}
	}
	b.WriteString("How to get it:\n")
	b.WriteString(howToGet(r.Name))
	return &PluginNotFoundError{Plugin: r.Name, msg: b.String()}
}

// PluginNotFoundError is returned when a requested PJRT plugin is not installed.
type PluginNotFoundError struct {
	Plugin string
	msg    string
}

func (e *PluginNotFoundError) Error() string { return e.msg }
