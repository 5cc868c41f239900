package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeIDX writes an unsigned-byte IDX file (gzipped when the name ends in .gz).
func writeIDX(t *testing.T, path string, dims []int, values []byte) {
	t.Helper()
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		_ = binary.Write(&buf, binary.BigEndian, uint32(d))
	}
	buf.Write(values)
	b := buf.Bytes()
	if strings.HasSuffix(path, ".gz") {
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		_, _ = w.Write(b)
		_ = w.Close()
		b = gz.Bytes()
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIDXReaderOnFixtures(t *testing.T) {
	for _, gz := range []string{"", ".gz"} {
		dir := t.TempDir()
		pixels := make([]byte, 3*4*5)
		for i := range pixels {
			pixels[i] = byte(i * 4)
		}
		writeIDX(t, filepath.Join(dir, "train-images-idx3-ubyte"+gz), []int{3, 4, 5}, pixels)
		writeIDX(t, filepath.Join(dir, "train-labels-idx1-ubyte"+gz), []int{3}, []byte{9, 0, 4})
		ds, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Len() != 3 || ds.Label(0) != 9 || ds.Classes()[9] != "Ankle boot" {
			t.Fatalf("Len %d, label %d", ds.Len(), ds.Label(0))
		}
		img, _ := ds.Image(1)
		g, ok := img.(*image.Gray)
		if !ok || g.Bounds() != image.Rect(0, 0, 5, 4) || !reflect.DeepEqual(g.Pix, pixels[20:40]) {
			t.Errorf("image 1: %T %v", img, img.Bounds())
		}
		g.Pix[0] = 255 // a copy: the dataset is not changed
		if again, _ := ds.Image(1); again.(*image.Gray).Pix[0] != pixels[20] {
			t.Error("Image returned the dataset's own buffer")
		}
	}
	// Bad files: each error names the file.
	dir := t.TempDir()
	img, lab := filepath.Join(dir, "train-images-idx3-ubyte"), filepath.Join(dir, "train-labels-idx1-ubyte")
	cases := []struct {
		name string
		prep func()
		want string
	}{
		{"label out of range", func() {
			writeIDX(t, img, []int{2, 2, 2}, make([]byte, 8))
			writeIDX(t, lab, []int{2}, []byte{1, 10})
		}, "label 10 of image 1 out of range"},
		{"count mismatch", func() { writeIDX(t, lab, []int{3}, []byte{1, 2, 3}) }, "expected 2 labels"},
		{"truncated", func() { writeIDX(t, lab, []int{5}, []byte{1, 2}) }, "truncated: 2 of 5"},
		{"bad magic", func() { _ = os.WriteFile(lab, []byte("P6 28 28 255\n"), 0o644) }, "bad magic"},
		{"not bytes", func() { _ = os.WriteFile(lab, []byte{0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0}, 0o644) }, "only unsigned bytes"},
		{"huge", func() { writeIDX(t, lab, []int{1 << 20, 1 << 20}, nil) }, "over the"},
		{"bad gzip", func() { _ = os.WriteFile(lab, []byte{0x1f, 0x8b, 1, 2}, 0o644) }, "idx"},
	}
	for _, c := range cases {
		c.prep()
		_, err := OpenFashionMNIST(dir, true)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: error %v should say %q and name the file", c.name, err, c.want)
		}
	}
	if _, err := OpenFashionMNIST(t.TempDir(), false); err == nil || !strings.Contains(err.Error(), "t10k-images-idx3-ubyte") {
		t.Errorf("missing files: %v", err)
	}
}

// TestFashionMNISTDebian reads the real files of Debian's dataset-fashion-mnist package when installed.
func TestFashionMNISTDebian(t *testing.T) {
	if fashionMNISTFile(FashionMNISTDir, "train-images-idx3-ubyte") == "" {
		t.Skipf("Fashion-MNIST not installed in %s (apt-get install dataset-fashion-mnist)", FashionMNISTDir)
	}
	for _, c := range []struct {
		train bool
		n     int
	}{{true, 60000}, {false, 10000}} {
		ds, err := OpenFashionMNIST(FashionMNISTDir, c.train)
		if err != nil {
			t.Fatal(err)
		}
		// Fashion-MNIST is balanced: n/10 images of each of the 10 classes.
		want := make([]int, 10)
		for i := range want {
			want[i] = c.n / 10
		}
		if ds.Len() != c.n || !reflect.DeepEqual(ClassCounts(ds), want) || !reflect.DeepEqual(ds.Classes(), FashionMNISTClasses) {
			t.Errorf("train=%v: %d images, counts %v", c.train, ds.Len(), ClassCounts(ds))
		}
		img, _ := ds.Image(0)
		if img.Bounds() != image.Rect(0, 0, 28, 28) {
			t.Errorf("image size %v", img.Bounds())
		}
	}
}
