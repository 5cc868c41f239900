package model

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// BenchmarkB3TrainStep times one training step of EfficientNet-B3 + projection head + pairLoss
// with Adam on the test backend (SimpleGo by default) at 64x64, batch 2 and 4. The first step
// (graph building, compilation, variable initialisation) is excluded. Reports the process' peak
// resident memory (VmHWM, which includes earlier sub-benchmarks) and the Go heap in use.
//
//	go test ./model/ -run '^$' -bench B3TrainStep -benchtime 3x
func BenchmarkB3TrainStep(b *testing.B) {
	for _, batch := range []int{2, 4} {
		b.Run(fmt.Sprintf("batch%d_64x64", batch), func(b *testing.B) {
			cfg, err := ConfigFor("b3")
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.New()
			if err := ctx.SetRNGStateFromSeed(1); err != nil {
				b.Fatal(err)
			}
			opt := optimizers.Adam().LearningRate(1e-3).Done()
			exec, err := context.NewExec(testBackend(), ctx, func(ctx *context.Context, images *Node) *Node {
				ctx.SetTraining(images.Graph(), true)
				loss := pairLoss(ProjectionHead(ctx, Encoder(ctx, cfg, images), false))
				opt.UpdateGraph(ctx, images.Graph(), loss)
				return loss
			})
			if err != nil {
				b.Fatal(err)
			}
			defer exec.Finalize()
			images := referenceImages([]int{batch, 64, 64, 3})
			if _, err := exec.Exec(images); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := exec.Exec(images); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
			b.ReportMetric(float64(ms.Sys)/(1<<20), "go-sys-MiB")
			if hwm, ok := vmHWM(); ok {
				b.ReportMetric(hwm/(1<<10), "VmHWM-MiB")
			}
		})
	}
}

// vmHWM returns the peak resident set size in KiB from /proc/self/status (Linux only).
func vmHWM() (float64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb, err == nil
		}
	}
	return 0, false
}
