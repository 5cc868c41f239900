package main

import (
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// buildTrain compiles the command once per test binary: the tests below run it as a user would.
func buildTrain(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "train")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runTrain(t *testing.T, bin string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestCommandLine(t *testing.T) {
	bin := buildTrain(t)

	t.Run("missing TPU plugin fails fast with instructions", func(t *testing.T) {
		start := time.Now()
		out, err := runTrain(t, bin, []string{"PJRT_PLUGIN_LIBRARY_PATH=" + t.TempDir()}, "-backend=tpu", "-list-devices")
		if err == nil {
			t.Fatalf("-backend=tpu succeeded on a machine without libtpu:\n%s", out)
		}
		// A hang detector, not a speed measurement: the issue asks for a failure within 10 s.
		if elapsed := time.Since(start); elapsed > 10*time.Second {
			t.Errorf("-backend=tpu took %s to fail", elapsed)
		}
		for _, want := range []string{"tpu", "PJRT_PLUGIN_LIBRARY_PATH", "libtpu", "-backend=go"} {
			if !strings.Contains(out, want) {
				t.Errorf("error message lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("list devices on go", func(t *testing.T) {
		out, err := runTrain(t, bin, nil, "-backend=go", "-list-devices")
		if err != nil || !strings.Contains(out, "SimpleGo") || !strings.Contains(out, "Devices:") {
			t.Fatalf("-list-devices: err=%v\n%s", err, out)
		}
	})

	t.Run("summary b0", func(t *testing.T) {
		out, err := runTrain(t, bin, nil, "-model=b0", "-summary", "-resolution=0")
		if err != nil {
			t.Fatalf("-summary: %v\n%s", err, out)
		}
		for _, want := range []string{"4,007,548", "stage7", "1280"} {
			if !strings.Contains(out, want) {
				t.Errorf("-summary output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("bad model name", func(t *testing.T) {
		out, err := runTrain(t, bin, nil, "-model=b9", "-summary")
		if err == nil || !strings.Contains(out, "b9") {
			t.Fatalf("-model=b9 should fail naming it: err=%v\n%s", err, out)
		}
	})

	t.Run("weights", func(t *testing.T) {
		weights, err := filepath.Abs("../model/pretrained/testdata/tiny_torchvision.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		// The fixture is a reduced torchvision EfficientNet (width 0.1, depth 0.34).
		out, err := runTrain(t, bin, nil, "-backend=go", "-weights="+weights, "-summary", "-resolution=32",
			"-set=efficientnet_width=0.1;efficientnet_depth=0.34")
		if err != nil || !strings.Contains(out, "variables loaded") || !strings.Contains(out, "Trainable params") {
			t.Fatalf("-weights with the matching model: err=%v\n%s", err, out)
		}
		out, err = runTrain(t, bin, nil, "-backend=go", "-weights="+weights, "-model=b0")
		if err == nil || !strings.Contains(out, "shape mismatches") || !strings.Contains(out, "/encoder/stem/conv/weights") {
			t.Fatalf("-weights into the wrong model should list the mismatches: err=%v\n%s", err, out)
		}
	})

	t.Run("inspect synthetic", func(t *testing.T) {
		dir := t.TempDir()
		grid := filepath.Join(dir, "grid.png")
		out, err := runTrain(t, bin, nil, "-inspect", "-resolution=64", "-batch=10", "-inspect-out="+grid)
		if err != nil {
			t.Fatalf("-inspect: %v\n%s", err, out)
		}
		for _, want := range []string{"CMD", "Healthy", "oversample"} {
			if !strings.Contains(out, want) {
				t.Errorf("-inspect output lacks %q:\n%s", want, out)
			}
		}
		f, err := os.Open(grid)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("grid is not a PNG: %v", err)
		}
		if b := img.Bounds(); b.Dx() < 4*64 || b.Dy() < 2*64 {
			t.Errorf("grid is %v, want at least 4x2 tiles of 64 px", b)
		}
	})

	t.Run("write tfrecords then inspect them", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "shards")
		out, err := runTrain(t, bin, nil, "-write-tfrecords="+dir, "-shards=3")
		if err != nil || !strings.Contains(out, "into 3 TFRecord files") {
			t.Fatalf("-write-tfrecords: err=%v\n%s", err, out)
		}
		out, err = runTrain(t, bin, nil, "-data="+dir, "-inspect", "-resolution=32", "-inspect-out="+filepath.Join(t.TempDir(), "g.png"))
		// The synthetic default set has 500 images, 308 of them CMD (Cassava's proportions).
		if err != nil || !strings.Contains(out, "dataset: 500 images, 5 classes") || !regexp.MustCompile(`CMD\s+308\s`).MatchString(out) {
			t.Fatalf("-inspect of the shards: err=%v\n%s", err, out)
		}
	})

	t.Run("inspect missing dir", func(t *testing.T) {
		out, err := runTrain(t, bin, nil, "-inspect", "-data=/nonexistent/cassava")
		if err == nil || !strings.Contains(out, "/nonexistent/cassava") {
			t.Fatalf("missing -data dir should fail naming it: err=%v\n%s", err, out)
		}
	})
}
