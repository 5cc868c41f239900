// Package tpu selects the GoMLX backend the trainer runs on: XLA through a PJRT plugin
// (tpu, cuda, cpu) or the pure-Go SimpleGo backend (go).
package tpu

import (
	"os"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/pkg/errors"
)

// TestBackendEnv names the environment variable that picks the backend tests run on.
// Unset means "go" (SimpleGo), which needs no native library.
const TestBackendEnv = "SUPCON_BACKEND"

// New returns the backend for a -backend flag value.
// (Preliminary: only "go" for now; the XLA paths are added by the backend-selection work.)
func New(spec string) (backends.Backend, error) {
	switch spec {
	case "go", "":
		return simplego.New("")
	}
	return nil, errors.Errorf("backend %q not supported yet", spec)
}

// ForTests returns the backend named by $SUPCON_BACKEND (default "go"), panicking on error:
// tests cannot run without one.
func ForTests() backends.Backend {
	spec := os.Getenv(TestBackendEnv)
	if spec == "" {
		spec = "go"
	}
	b, err := New(spec)
	if err != nil {
		panic(err)
	}
	return b
}
