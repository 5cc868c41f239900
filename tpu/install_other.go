//go:build !(linux && amd64)

package tpu

import (
	"runtime"

	"github.com/pkg/errors"
)

// install is only wired to go-xla's installer on linux/amd64, the platform its CUDA and TPU installers support.
func install(name string) (string, error) {
	return "", errors.Errorf("installing PJRT plugin %q is not supported on %s/%s: install it by hand "+
		"(go run github.com/gomlx/go-xla/cmd/pjrt_installer@latest) or use -backend=go", name, runtime.GOOS, runtime.GOARCH)
}
