//go:build linux && amd64

package tpu

import (
	"os"
	"path/filepath"

	"github.com/gomlx/go-xla/pkg/installer"
	"github.com/pkg/errors"
)

// install downloads plugin <name> with go-xla's installer (the only place this package touches the
// network) and returns the path where the plugin file should now be.
func install(name string) (string, error) {
	dir, err := installDir()
	if err != nil {
		return "", err
	}
	switch name {
	case PluginCPU:
		err = installer.CPUAutoInstall(dir, true, installer.Normal)
		return filepath.Join(dir, pluginFileNames(name)[0]), err
	case PluginCUDA:
		// Installs the plugin and NVIDIA's libraries under <dir>/nvidia/.
		err = installer.CudaInstall("cuda13", "latest", dir, true, installer.Normal)
		return filepath.Join(dir, "nvidia", pluginFileNames(name)[0]), err
	case PluginTPU:
		err = installer.TPUInstall("tpu", "latest", dir, true, installer.Normal)
		return filepath.Join(dir, installer.TPUPJRTPluginName), err
	}
	return "", errors.Errorf("no installer for PJRT plugin %q: go-xla can install tpu, cuda and cpu", name)
}

// installDir is where installed plugins will be found: the first $PJRT_PLUGIN_LIBRARY_PATH directory when
// set (the only place searched then), else go-xla's default ~/.local/lib/go-xla.
func installDir() (string, error) {
	if dirs := PluginSearchDirs(); len(dirs) > 0 {
		if _, set := os.LookupEnv(PluginPathEnv); set {
			return dirs[0], nil
		}
	}
	lib, err := installer.DefaultHomeLibPath()
	if err != nil {
		return "", err
	}
	return filepath.Join(lib, "go-xla"), nil
}
