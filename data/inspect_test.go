package data

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestInspectOversampled(t *testing.T) {
	ds := &labelsOnly{labels: []int{0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2}, classes: []string{"a", "b", "c"}}
	s, err := NewSampler(SampleOversample, ds, 6, 1)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Inspect(&out, ds, s, 6, 3); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	t.Log("\n" + text)
	// Per class: the data's counts (2, 6, 8), and 8 each in the oversampled epoch.
	for _, row := range []string{`a\s+2\s+12\.5\s+8\s+33\.3`, `b\s+6\s+37\.5\s+8\s+33\.3`, `c\s+8\s+50\.0\s+8\s+33\.3`, `total(\s+\d+){3}`, `24 images per epoch \(4 batches of 6\)`} {
		if !regexp.MustCompile(row).MatchString(text) {
			t.Errorf("output lacks %q:\n%s", row, text)
		}
	}
	// The 3 batch rows sum to 18 images, 6 each.
	batchRows := regexp.MustCompile(`(?m)^\s*[0-2]\s+(\d+)\s+(\d+)\s+(\d+)\s*$`).FindAllStringSubmatch(text, -1)
	if len(batchRows) != 3 {
		t.Fatalf("want 3 batch rows:\n%s", text)
	}
	for _, r := range batchRows {
		if n := atoiT(t, r[1]) + atoiT(t, r[2]) + atoiT(t, r[3]); n != 6 {
			t.Errorf("batch row %q sums to %d, want 6", r[0], n)
		}
	}
}

func atoiT(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSaveGrid(t *testing.T) {
	ds := tinySynthetic(t) // 40x30 images
	var imgs []image.Image
	for i := 0; i < 5; i++ {
		img, _ := ds.Image(i)
		imgs = append(imgs, img)
	}
	small := image.NewGray(image.Rect(0, 0, 10, 10)) // smaller images sit top-left in their cell
	imgs = append(imgs, small)
	path := filepath.Join(t.TempDir(), "grid.png")
	if err := SaveGrid(path, imgs, 4); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	grid, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := image.Rect(0, 0, 4*42+2, 2*32+2); grid.Bounds() != want {
		t.Fatalf("grid %v, want %v", grid.Bounds(), want)
	}
	// Image 5 (row 1, col 1) starts at (2+42, 2+32); image 1 at (44, 2).
	for _, c := range []struct {
		img  image.Image
		x, y int
	}{{imgs[1], 44, 2}, {imgs[4], 2, 34}, {small, 44, 34}} {
		for _, p := range []image.Point{{0, 0}, {7, 5}, {9, 9}} {
			r1, g1, b1, _ := c.img.At(p.X, p.Y).RGBA()
			r2, g2, b2, _ := grid.At(c.x+p.X, c.y+p.Y).RGBA()
			if r1>>8 != r2>>8 || g1>>8 != g2>>8 || b1>>8 != b2>>8 {
				t.Errorf("grid pixel at %d,%d differs from the image's %v", c.x+p.X, c.y+p.Y, p)
			}
		}
	}
	if r, g, b, _ := grid.At(44+20, 34+20).RGBA(); r>>8 != 255 || g>>8 != 255 || b>>8 != 255 {
		t.Error("the rest of a small image's cell should be white")
	}
	for _, bad := range []struct {
		imgs []image.Image
		cols int
	}{{nil, 2}, {imgs, 0}, {[]image.Image{nil}, 1}} {
		if err := SaveGrid(path, bad.imgs, bad.cols); err == nil || !strings.Contains(err.Error(), "SaveGrid") {
			t.Errorf("%d images, %d cols: %v", len(bad.imgs), bad.cols, err)
		}
	}
}

func TestSubset(t *testing.T) {
	src := tinySynthetic(t)
	dir := t.TempDir()
	if err := WriteKaggle(src, dir); err != nil {
		t.Fatal(err)
	}
	ds, err := OpenKaggle(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sub := Subset(ds, []int{4, 1, 4})
	if sub.Len() != 3 || sub.ID(0) != ds.ID(4) || sub.ID(1) != ds.ID(1) || sub.Label(2) != ds.Label(4) || len(sub.Classes()) != 5 {
		t.Errorf("Subset does not map indices: %s %s", sub.ID(0), sub.ID(1))
	}
	raw, err := sub.(RawImager).RawImage(1)
	file, _ := os.ReadFile(filepath.Join(dir, KaggleImages, ds.ID(1)))
	if err != nil || !bytes.Equal(raw, file) {
		t.Errorf("Subset's RawImage is not the original file: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("an index out of range should panic (a programming error)")
		}
	}()
	Subset(ds, []int{ds.Len()})
}

// BenchmarkDecodeJPEG800x600 decodes a Cassava-sized photo: what the pipeline pays per image.
func BenchmarkDecodeJPEG800x600(b *testing.B) {
	var data []byte
	if sample, err := os.ReadFile(filepath.Join("..", "..", "shared", "data", "cassava-sample", KaggleImages, "1000015157.jpg")); err == nil {
		data = sample
	} else {
		ds, err := Synthetic(SyntheticOptions{Seed: 1, Total: 5, Width: 800, Height: 600})
		if err != nil {
			b.Fatal(err)
		}
		if data, err = EncodedImage(ds, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeBytes("bench.jpg", data); err != nil {
			b.Fatal(err)
		}
	}
}
