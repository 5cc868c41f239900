package tpu

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func TestListDevicesGo(t *testing.T) {
	b, err := New("go")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ListDevices(&buf, b); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"Backend:     SimpleGo (go)", "Devices:     1", "#0  kind=cpu (pure Go)  device#0",
		"Config:      " + SimpleGoParallelism} {
		if !strings.Contains(out, want) {
			t.Errorf("ListDevices output lacks %q:\n%s", want, out)
		}
	}
	if err := ListDevices(failingWriter{}, b); err == nil {
		t.Error("ListDevices ignored a write error")
	}
	b.Finalize()
	if err := ListDevices(&buf, b); err == nil {
		t.Error("ListDevices of a finalized backend should fail")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestListDevicesTestBackend lists whatever $SUPCON_BACKEND selects (with SUPCON_BACKEND=cpu on a machine
// with the XLA CPU plugin, this exercises the PJRT path).
func TestListDevicesTestBackend(t *testing.T) {
	b := ForTests()
	var buf bytes.Buffer
	if err := ListDevices(&buf, b); err != nil {
		t.Fatal(err)
	}
	if n := b.NumDevices(); n < 1 || !strings.Contains(buf.String(), fmt.Sprintf("Devices:     %d", n)) {
		t.Errorf("ListDevices with %d devices:\n%s", n, buf.String())
	}
	t.Logf("\n%s", buf.String())
}

func TestForTestsHonoursEnv(t *testing.T) {
	t.Setenv(TestBackendEnv, "go:parallelism=3,ops_sequential")
	var buf bytes.Buffer
	if err := ListDevices(&buf, ForTests()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Config:      parallelism=3,ops_sequential") {
		t.Errorf("ForTests ignored the SimpleGo options of $%s:\n%s", TestBackendEnv, buf.String())
	}

	for spec, want := range map[string]string{
		"gpu":                             "valid values are",
		"xla:/nonexistent/plugin_test.so": "/nonexistent/plugin_test.so",
	} {
		t.Setenv(TestBackendEnv, spec)
		msg := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			ForTests()
			return ""
		}()
		if !strings.Contains(msg, want) || !strings.Contains(msg, TestBackendEnv) {
			t.Errorf("ForTests with $%s=%q should panic naming the variable and %q, got %q", TestBackendEnv, spec, want, msg)
		}
	}
}

func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	f := RegisterFlags(fs)
	if *f.Backend != "auto" || *f.InstallPlugin {
		t.Errorf("defaults: -backend=%q -install-plugin=%v", *f.Backend, *f.InstallPlugin)
	}
	usage := fs.Lookup("backend").Usage
	for _, v := range []string{"auto", "tpu", "cuda", "cpu", "go", "xla:/abs/path/plugin.so", "go:parallelism=2"} {
		if !strings.Contains(usage, v) {
			t.Errorf("-backend usage does not list %q", v)
		}
	}
	if err := fs.Parse([]string{"-backend=go:ops_sequential", "-install-plugin"}); err != nil {
		t.Fatal(err)
	}
	b, err := f.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "SimpleGo (go)" || !*f.InstallPlugin {
		t.Errorf("flags gave backend %q, install=%v", b.Name(), *f.InstallPlugin)
	}
	*f.Backend = "gpu"
	if _, err := f.New(nil); err == nil || !strings.Contains(err.Error(), "valid values are") {
		t.Errorf("bad -backend: %v", err)
	}
}

// runConcurrentDotGenerals executes, from `goroutines` goroutines `reps` times each, one graph with
// `numDots` independent DotGenerals (all ready at once), checks the result against a float64 reference
// computed here with plain loops, and returns an error if it does not finish within `deadline` (a hang
// detector: the work takes milliseconds).
func runConcurrentDotGenerals(t *testing.T, b backends.Backend, numDots, goroutines, reps int, deadline time.Duration) error {
	const batch, m, k, n = 4, 16, 24, 8
	exec, err := NewExec(b, func(xs []*Node) *Node {
		var total *Node
		for _, w := range xs[1:] {
			d := ReduceAllSum(Einsum("bmk,kn->bmn", xs[0], w))
			if total == nil {
				total = d
			} else {
				total = Add(total, d)
			}
		}
		return total
	})
	if err != nil {
		return err
	}
	val := func(i, seed int) float32 { return float32((i*7+seed*13)%11-5) / 8 } // Exact in float32.
	xFlat := make([]float32, batch*m*k)
	for i := range xFlat {
		xFlat[i] = val(i, 0)
	}
	wFlats := make([][]float32, numDots)
	want := 0.0
	for d := range wFlats {
		wFlats[d] = make([]float32, k*n)
		for i := range wFlats[d] {
			wFlats[d][i] = val(i, d+1)
		}
		for bb := range batch {
			for i := range m {
				for j := range n {
					for c := range k {
						want += float64(xFlat[(bb*m+i)*k+c]) * float64(wFlats[d][c*n+j])
					}
				}
			}
		}
	}
	// Each goroutine gets its own tensors: a GoMLX Tensor is not safe to pass to concurrent executions.
	newArgs := func() []any {
		args := []any{tensors.FromFlatDataAndDimensions(xFlat, batch, m, k)}
		for _, w := range wFlats {
			args = append(args, tensors.FromFlatDataAndDimensions(w, k, n))
		}
		return args
	}
	done := make(chan error, 1)
	go func() {
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				args := newArgs()
				for range reps {
					out, err := exec.Exec(args...)
					if err != nil {
						errs <- err
						return
					}
					if got := float64(out[0].Value().(float32)); math.Abs(got-want) > 1e-3*math.Max(1, math.Abs(want)) {
						errs <- fmt.Errorf("sum of %d DotGenerals = %g, want %g", numDots, got, want)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		done <- <-errs
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(deadline):
		return fmt.Errorf("hang: %d goroutines x %d executions of %d concurrent DotGenerals did not finish in %s",
			goroutines, reps, numDots, deadline)
	}
}

// TestSimpleGoNoDeadlock runs the load that deadlocks GoMLX v0.26.0's default SimpleGo pool (see
// SimpleGoParallelism) on the backend New("go") and ForTests() build: 4*NumCPU goroutines, each executing a
// graph with 4*NumCPU independent DotGenerals.
func TestSimpleGoNoDeadlock(t *testing.T) {
	n := runtime.NumCPU()
	t.Setenv(TestBackendEnv, "")
	for name, newBackend := range map[string]func() (backends.Backend, error){
		"New(go)":    func() (backends.Backend, error) { return New("go") },
		"ForTests()": func() (backends.Backend, error) { return ForTests(), nil },
	} {
		b, err := newBackend()
		if err != nil {
			t.Fatal(err)
		}
		if err := runConcurrentDotGenerals(t, b, 4*n, 4*n, 3, 2*time.Minute); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestSimpleGoDefaultPoolDeadlocks shows why SimpleGoParallelism exists: GoMLX's default configuration
// hangs on a single execution of a graph with 2*NumCPU+2 concurrent DotGenerals. It leaves deadlocked
// goroutines behind, so it only runs when asked: SUPCON_SIMPLEGO_HANG_DEMO=1. If it fails (no hang), GoMLX
// fixed its pool and the override can be reconsidered.
func TestSimpleGoDefaultPoolDeadlocks(t *testing.T) {
	if os.Getenv("SUPCON_SIMPLEGO_HANG_DEMO") == "" {
		t.Skip("set SUPCON_SIMPLEGO_HANG_DEMO=1 to run")
	}
	b, err := simplego.New("")
	if err != nil {
		t.Fatal(err)
	}
	err = runConcurrentDotGenerals(t, b, 2*runtime.NumCPU()+2, 1, 20, 10*time.Second)
	if err == nil || !strings.HasPrefix(err.Error(), "hang") {
		t.Fatalf("GoMLX's default SimpleGo pool did not deadlock (err=%v)", err)
	}
	t.Log(err)
}
