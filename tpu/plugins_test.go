package tpu

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends/xla"
)

// isolate points every place a plugin could be found or installed at empty temporary directories, so the
// tests see "nothing installed" on any machine, and returns the fake $HOME, where go-xla's installer would
// write (~/.local/lib/go-xla) if anything tried to download.
func isolate(t *testing.T) (home, pluginDir string) {
	guardNetwork(t, true)
	home, pluginDir = t.TempDir(), t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv(PluginPathEnv, pluginDir)
	t.Setenv(TPULibraryEnv, "")
	t.Setenv("VIRTUAL_ENV", "")
	t.Setenv("CONDA_PREFIX", "")
	return home, pluginDir
}

// unsetenv unsets an environment variable for the duration of the test.
func unsetenv(t *testing.T, key string) {
	t.Setenv(key, "") // Registers the restore.
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}

// Network guard: every isolated test points the HTTP(S) proxy variables at one local listener (one for the
// whole process, since net/http reads them once) that counts connections. Any download attempt by an
// installer goes through it and is caught, whatever the machine's connectivity.
var (
	proxyOnce  sync.Once
	proxyAddr  string
	proxyConns atomic.Int64
)

// guardNetwork installs the guard and returns the number of connections made since; with forbid, any
// connection fails the test.
func guardNetwork(t *testing.T, forbid bool) func() int64 {
	proxyOnce.Do(func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("network guard: %v", err)
		}
		proxyAddr = "http://" + l.Addr().String()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				proxyConns.Add(1)
				_ = c.Close()
			}
		}()
	})
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		t.Setenv(k, proxyAddr)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	before := proxyConns.Load()
	count := func() int64 { return proxyConns.Load() - before }
	if forbid {
		t.Cleanup(func() {
			if n := count(); n != 0 {
				t.Errorf("%d network connection(s) attempted: nothing may be downloaded without -install-plugin", n)
			}
		})
	}
	return count
}

func assertNothingWritten(t *testing.T, home string) {
	t.Helper()
	entries, err := os.ReadDir(home)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("something was written to $HOME (%s): %v -- an installer ran", home, entries)
	}
}

// withDeadline runs fn, failing the test if it does not return within d: a hang detector for code that must
// fail fast (no network waits), not a performance measurement.
func withDeadline[T any](t *testing.T, d time.Duration, what string, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- fn() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
		panic("unreachable")
	}
}

func TestMissingPluginError(t *testing.T) {
	for _, spec := range []string{"tpu", "cuda", "cpu", "xla:cpu", "xla:metal"} {
		t.Run(spec, func(t *testing.T) {
			home, pluginDir := isolate(t)
			err := withDeadline(t, 20*time.Second, "New("+spec+")", func() error {
				_, err := NewWithOptions(spec, Options{})
				return err
			})
			var nf *PluginNotFoundError
			if !errors.As(err, &nf) {
				t.Fatalf("New(%q) = %v, want a PluginNotFoundError", spec, err)
			}
			name := strings.TrimPrefix(spec, "xla:")
			msg := err.Error()
			for _, want := range []string{
				`"` + name + `"`, "pjrt_c_api_" + name + "_plugin.so", PluginPathEnv, pluginDir,
				"-backend=go", "-install-plugin",
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not mention %q:\n%s", want, msg)
				}
			}
			assertNothingWritten(t, home)
		})
	}
}

// TestInstallPluginsDownloads checks the other side: with InstallPlugins the installer does go to the network
// (here into the guard, which drops the connection, so nothing is really downloaded) and its failure is
// reported with the plugin's name.
func TestInstallPluginsDownloads(t *testing.T) {
	home, pluginDir := t.TempDir(), t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv(PluginPathEnv, pluginDir)
	connections := guardNetwork(t, false)
	err := withDeadline(t, 60*time.Second, "install", func() error {
		_, err := NewWithOptions("cpu", Options{InstallPlugins: true})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), `installing PJRT plugin "cpu"`) {
		t.Errorf("install through a dead proxy should fail naming the plugin, got: %v", err)
	}
	if connections() == 0 {
		t.Errorf("InstallPlugins made no network connection: the installer was not called")
	}
}

func TestMissingPluginHowTo(t *testing.T) {
	// Each known plugin's error says how to get it.
	for name, want := range map[string]string{
		PluginTPU:  "pip install libtpu",
		PluginCUDA: "jax_plugins/xla_cuda13/xla_cuda_plugin.so",
		PluginCPU:  "pjrt_installer",
	} {
		isolate(t)
		_, err := New(name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%q) error should explain %q, got: %v", name, want, err)
		}
	}
}

// TestGoMLXAutoInstallDisabled checks our init turned off GoMLX's implicit download: its own constructor,
// asked for a plugin that isn't installed, must fail without running the installer (which would write
// under $HOME and go to the network).
func TestGoMLXAutoInstallDisabled(t *testing.T) {
	home, _ := isolate(t)
	err := withDeadline(t, 20*time.Second, "xla.New", func() error {
		_, err := xla.New("no_such_plugin_for_supcon_tests")
		return err
	})
	if err == nil {
		t.Fatal("xla.New of a plugin that does not exist succeeded")
	}
	if strings.Contains(err.Error(), "auto-install") {
		t.Errorf("GoMLX tried to auto-install: %v", err)
	}
	assertNothingWritten(t, home)
}

func TestAutoFallsBackToGo(t *testing.T) {
	if hasTPU() || hasNvidiaGPU() {
		t.Skip("this machine has accelerators: auto would pick a plugin it finds on the real system")
	}
	home, _ := isolate(t)
	b := withDeadline(t, 20*time.Second, "New(auto)", func() error {
		b, err := New("auto")
		if err != nil {
			return err
		}
		if b.Name() != "SimpleGo (go)" {
			return errors.New("auto picked " + b.Name() + ", want SimpleGo with no plugin present")
		}
		return nil
	})
	if b != nil {
		t.Fatal(b)
	}
	assertNothingWritten(t, home)
}

func TestPluginByPathMissing(t *testing.T) {
	isolate(t)
	missing := filepath.Join(t.TempDir(), "xla_cuda_plugin.so")
	_, err := New("xla:" + missing)
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("New(xla:%s) error should name the missing file, got: %v", missing, err)
	}
	// A directory is not a plugin either.
	_, err = New("xla:" + t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("New(xla:<dir>) should fail clearly, got: %v", err)
	}
}

// TestBrokenPluginFile checks that a file found under a plugin name but not loadable is reported with its
// path, instead of crashing or being skipped silently.
func TestBrokenPluginFile(t *testing.T) {
	_, pluginDir := isolate(t)
	fake := filepath.Join(pluginDir, "pjrt_c_api_cpu_plugin.so")
	if err := os.WriteFile(fake, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{"cpu", "xla:" + fake} {
		_, err := New(spec)
		if err == nil || !strings.Contains(err.Error(), fake) {
			t.Errorf("New(%q) with a broken plugin file should fail naming %s, got: %v", spec, fake, err)
		}
	}
}

func TestFindPluginLocations(t *testing.T) {
	// go-xla's three file name patterns, in $PJRT_PLUGIN_LIBRARY_PATH order.
	_, dir1 := isolate(t)
	dir2 := t.TempDir()
	t.Setenv(PluginPathEnv, dir1+"::"+dir2)
	touch(t, filepath.Join(dir2, "pjrt-plugin-cpu.so"))
	if got := findPlugin("cpu").Path; got != filepath.Join(dir2, "pjrt-plugin-cpu.so") {
		t.Errorf("findPlugin(cpu) = %q", got)
	}
	touch(t, filepath.Join(dir1, "pjrt_plugin_cpu.so"))
	if got := findPlugin("cpu").Path; got != filepath.Join(dir1, "pjrt_plugin_cpu.so") {
		t.Errorf("findPlugin(cpu) = %q, want the first directory's", got)
	}

	// $TPU_LIBRARY_PATH names libtpu explicitly, even with $PJRT_PLUGIN_LIBRARY_PATH set.
	libtpu := filepath.Join(t.TempDir(), "libtpu.so")
	touch(t, libtpu)
	t.Setenv(TPULibraryEnv, libtpu)
	if got := findPlugin("tpu").Path; got != libtpu {
		t.Errorf("findPlugin(tpu) with $%s = %q, want %q", TPULibraryEnv, got, libtpu)
	}

	// pip-installed plugins in a virtualenv: found when $PJRT_PLUGIN_LIBRARY_PATH is unset.
	t.Setenv(TPULibraryEnv, "")
	venv := t.TempDir()
	site := filepath.Join(venv, "lib", "python3.12", "site-packages")
	cudaPlugin := filepath.Join(site, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
	pipTPU := filepath.Join(site, "libtpu", "libtpu.so")
	touch(t, cudaPlugin)
	touch(t, pipTPU)
	t.Setenv("VIRTUAL_ENV", venv)
	if got := findPlugin("cuda").Path; got != "" {
		t.Errorf("findPlugin(cuda) = %q: site-packages must not be searched when $%s is set", got, PluginPathEnv)
	}
	unsetenv(t, PluginPathEnv)
	if got := findPlugin("cuda").Path; got != cudaPlugin && !strings.Contains(got, "cuda") {
		t.Errorf("findPlugin(cuda) = %q, want %q", got, cudaPlugin)
	}
	if r := findPlugin("tpu"); r.Path == "" || !slices.Contains(r.Extras, pipTPU) {
		t.Errorf("findPlugin(tpu) = %q (extras %v), want the pip libtpu %q among the candidates", r.Path, r.Extras, pipTPU)
	}
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPluginSearchDirsDefaults(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	unsetenv(t, PluginPathEnv)
	t.Setenv("LD_LIBRARY_PATH", "/opt/lib1:relative/lib::/opt/lib2")
	dirs := PluginSearchDirs()
	want := []string{
		filepath.Join(home, ".local/lib/go-xla"), filepath.Join(home, ".local/lib/go-xla/nvidia"),
		filepath.Join(home, ".local/lib/gomlx/pjrt"),
		"/usr/local/lib/go-xla", "/usr/local/lib/go-xla/nvidia", "/usr/local/lib/gomlx/pjrt",
		"/opt/lib1", "/opt/lib2",
	}
	if len(dirs) < len(want) || !reflect.DeepEqual(dirs[:len(want)], want) {
		t.Errorf("PluginSearchDirs() = %v, want it to start with %v", dirs, want)
	}
	t.Setenv(PluginPathEnv, "")
	if dirs := PluginSearchDirs(); len(dirs) != 0 {
		t.Errorf("PluginSearchDirs() with an empty $%s = %v, want none (go-xla: set means replace)", PluginPathEnv, dirs)
	}
}

func TestLdSoConf(t *testing.T) {
	dir := t.TempDir()
	confD := filepath.Join(dir, "ld.so.conf.d")
	touch(t, filepath.Join(confD, "x.conf"))
	if err := os.WriteFile(filepath.Join(confD, "a.conf"), []byte("# comment\n/opt/a\n\n  /opt/b  \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "ld.so.conf")
	if err := os.WriteFile(conf, []byte("/opt/first\ninclude ld.so.conf.d/*.conf\ninclude "+conf+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := appendLdSoConf(nil, conf, 0)
	// The self-include repeats the list until the depth limit stops it; its head is what matters.
	want := []string{"/opt/first", "/opt/a", "/opt/b", "/opt/first"}
	if len(got) < len(want) || !reflect.DeepEqual(got[:len(want)], want) {
		t.Errorf("appendLdSoConf = %v, want it to start with %v", got, want)
	}
}

func TestPluginNameOf(t *testing.T) {
	for path, want := range map[string]string{
		"/x/site-packages/libtpu/libtpu.so":                          "tpu",
		"/x/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so": "cuda",
		"/home/u/.local/lib/go-xla/pjrt_c_api_cpu_plugin.so":         "cpu",
		"/home/u/.local/lib/go-xla/pjrt_c_api_cpu_v0.83.3_plugin.so": "cpu_v0.83.3",
		"/opt/pjrt-plugin-metal.dylib":                               "metal",
		"/opt/pjrt_plugin_rocm.so":                                   "rocm",
	} {
		if got := pluginNameOf(path); got != want {
			t.Errorf("pluginNameOf(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestCUDADataDirFlags(t *testing.T) {
	root := t.TempDir()
	plugin := filepath.Join(root, "go-xla", "nvidia", "pjrt_c_api_cuda_plugin.so")
	touch(t, plugin)
	nvidia := filepath.Join(root, "go-xla", "nvidia")
	if got, want := cudaDataDirFlags("", plugin), "--xla_gpu_cuda_data_dir="+nvidia; got != want {
		t.Errorf("cudaDataDirFlags = %q, want %q", got, want)
	}
	if got, want := cudaDataDirFlags("--xla_foo=1", plugin), "--xla_foo=1 --xla_gpu_cuda_data_dir="+nvidia; got != want {
		t.Errorf("cudaDataDirFlags = %q, want %q", got, want)
	}
	if got := cudaDataDirFlags("--xla_gpu_cuda_data_dir=/mine", plugin); got != "" {
		t.Errorf("cudaDataDirFlags must keep the user's data dir, got %q", got)
	}
	// jax's layout has no ../nvidia next to the plugin: go-xla then leaves XLA_FLAGS alone, and so do we.
	jax := filepath.Join(root, "site-packages", "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
	touch(t, jax)
	if got := cudaDataDirFlags("", jax); got != "" {
		t.Errorf("cudaDataDirFlags(jax layout) = %q, want no change", got)
	}
}

func TestHasTPUIn(t *testing.T) {
	pciDevice := func(root, name, vendor, device string) {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for file, v := range map[string]string{"vendor": vendor, "device": device} {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	dev, pci := t.TempDir(), t.TempDir()
	pciDevice(pci, "0000:00:04.0", "0x1ae0", "0x0042") // Google gVNIC: same vendor, not a TPU.
	pciDevice(pci, "0000:00:05.0", "0x10de", "0x2335") // An NVIDIA GPU.
	if hasTPUIn(dev, pci) {
		t.Error("gVNIC or a GPU taken for a TPU")
	}
	pciDevice(pci, "0000:00:06.0", "0x1ae0", "0x0063") // TPU v5e.
	if !hasTPUIn(dev, pci) {
		t.Error("TPU v5e PCI device not detected")
	}
	touch(t, filepath.Join(dev, "accel0"))
	if !hasTPUIn(dev, t.TempDir()) {
		t.Error("/dev/accel0 not detected")
	}
}

// TestTPUWithoutChips: -backend=tpu with libtpu installed but no TPU chips fails at once with the
// no-chips error instead of loading libtpu (which could wait on the GCE metadata server), and with
// -install-plugin downloads nothing; an explicit path still loads the file. The fake libtpu is not
// an ELF file, so loading it fails with its path: that tells "loaded" from "refused".
func TestTPUWithoutChips(t *testing.T) {
	home, _ := isolate(t)
	libtpu := filepath.Join(t.TempDir(), "libtpu.so")
	if err := os.WriteFile(libtpu, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(TPULibraryEnv, libtpu)
	defer func(detect func() bool) { detectTPU = detect }(detectTPU)

	detectTPU = func() bool { return false }
	for _, opts := range []Options{{}, {InstallPlugins: true}} {
		err := withDeadline(t, 10*time.Second, "New(tpu)", func() error {
			_, err := NewWithOptions("tpu", opts)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "no TPU chips") || !strings.Contains(err.Error(), libtpu) ||
			!strings.Contains(err.Error(), "-backend=go") || !strings.Contains(err.Error(), "-backend=xla:") {
			t.Errorf("New(tpu, %+v) without chips: got %v, want the no-chips error naming %s", opts, err, libtpu)
		}
	}
	t.Setenv(TPULibraryEnv, "")
	if _, err := NewWithOptions("tpu", Options{InstallPlugins: true}); err == nil ||
		!strings.Contains(err.Error(), "libtpu is not installed") {
		t.Errorf("New(tpu) with -install-plugin and no chips: got %v, want the no-chips error before any download", err)
	}
	assertNothingWritten(t, home)
	if _, err := New("xla:" + libtpu); err == nil || strings.Contains(err.Error(), "no TPU chips") ||
		!strings.Contains(err.Error(), libtpu) {
		t.Errorf("New(xla:%s) should try to load the file, got %v", libtpu, err)
	}

	detectTPU = func() bool { return true }
	t.Setenv(TPULibraryEnv, libtpu)
	if _, err := New("tpu"); err == nil || strings.Contains(err.Error(), "no TPU chips") || !strings.Contains(err.Error(), libtpu) {
		t.Errorf("New(tpu) with chips should load %s (and fail: it is not a library), got %v", libtpu, err)
	}
}
