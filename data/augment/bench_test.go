package augment

import (
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// benchImage returns a real Cassava JPEG when the shared sample is present,
// else a synthetic 800x600 4:2:0 image.
func benchImage(b *testing.B) image.Image {
	files, _ := filepath.Glob("../../../shared/data/cassava-sample/train_images/*.jpg")
	if len(files) > 0 {
		f, err := os.Open(files[0])
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		img, err := jpeg.Decode(f)
		if err != nil {
			b.Fatal(err)
		}
		return img
	}
	img := image.NewYCbCr(image.Rect(0, 0, 800, 600), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = uint8(i * 7)
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = uint8(i*3), uint8(i*5)
	}
	return img
}

// BenchmarkAugment512 measures one view of the augment pass alone (no decode)
// at 512x512: the full default augmentation and the evaluation resize.
func BenchmarkAugment512(b *testing.B) {
	img := benchImage(b)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"default", Default(512)}, {"eval", Eval(512)}} {
		b.Run(tc.name, func(b *testing.B) {
			a, err := New(tc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]float32, a.Len())
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				rng := NewRNG(SeedFor(1, uint64(i)))
				if err := a.Apply(dst, img, &rng); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "img/s")
		})
	}
}
