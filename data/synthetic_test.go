package data

import (
	"image"
	"math"
	"reflect"
	"testing"
)

func TestScaleCounts(t *testing.T) {
	full, err := ScaleCounts(CassavaCounts, 21397)
	if err != nil || !reflect.DeepEqual(full, CassavaCounts) {
		t.Errorf("full size: %v %v, want %v", full, err, CassavaCounts)
	}
	for _, total := range []int{5, 6, 7, 10, 33, 100, 1000, 4321} {
		got, err := ScaleCounts(CassavaCounts, total)
		if err != nil {
			t.Fatal(err)
		}
		if sum(got) != total {
			t.Errorf("total %d: %v sums to %d", total, got, sum(got))
		}
		for c, n := range got {
			quota := float64(total) * float64(CassavaCounts[c]) / 21397
			// Once every class's quota is at least 1 the minimum binds nowhere: each class is within 1
			// of its exact quota. Below that, small classes are lifted to 1 at the others' expense.
			allOver1 := float64(total)*1087/21397 >= 1
			if n < 1 || (allOver1 && math.Abs(float64(n)-quota) >= 1) {
				t.Errorf("total %d: class %d gets %d, quota %.2f", total, c, n, quota)
			}
		}
	}
	if got, _ := ScaleCounts(CassavaCounts, 5); !reflect.DeepEqual(got, []int{1, 1, 1, 1, 1}) {
		t.Errorf("total 5: %v, want one each", got)
	}
	if _, err := ScaleCounts(CassavaCounts, 4); err == nil {
		t.Error("total 4 < 5 classes accepted")
	}
	if got, _ := ScaleCounts([]int{0, 10, 30}, 4); !reflect.DeepEqual(got, []int{0, 1, 3}) {
		t.Errorf("zero class: %v, want [0 1 3]", got)
	}
}

func TestSyntheticDeterministicAnySize(t *testing.T) {
	a, err := Synthetic(SyntheticOptions{Seed: 3, Total: 50, Width: 33, Height: 17})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Synthetic(SyntheticOptions{Seed: 3, Total: 50, Width: 33, Height: 17})
	c, _ := Synthetic(SyntheticOptions{Seed: 4, Total: 50, Width: 33, Height: 17})
	want, _ := ScaleCounts(CassavaCounts, 50)
	if !reflect.DeepEqual(ClassCounts(a), want) || !reflect.DeepEqual(a.Classes(), CassavaClasses) {
		t.Errorf("counts %v, want %v", ClassCounts(a), want)
	}
	sameLabels := true
	for i := 0; i < a.Len(); i++ {
		sameLabels = sameLabels && a.Label(i) == c.Label(i)
		if a.Label(i) != b.Label(i) {
			t.Fatal("same seed, different labels")
		}
	}
	if sameLabels {
		t.Error("another seed, same label order")
	}
	for _, i := range []int{0, 7, 49} {
		x, _ := a.Image(i)
		y, _ := b.Image(i)
		if x.Bounds() != image.Rect(0, 0, 33, 17) || !reflect.DeepEqual(x.(*image.RGBA).Pix, y.(*image.RGBA).Pix) {
			t.Errorf("image %d: %v, not the same for the same seed", i, x.Bounds())
		}
	}
	if _, err := a.Image(50); err == nil {
		t.Error("index out of range accepted")
	}
	for _, o := range []SyntheticOptions{{Total: 4}, {Width: 4, Height: 100}, {Counts: []int{1, 2}}, {Counts: []int{0, 0, 0, 0, 0}}} {
		if _, err := Synthetic(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// features summarises the leaf of an image by colour statistics over its leaf-like pixels (bright
// green or yellow; the background soil and grass are darker or browner): mean R, G, B, the fractions of
// yellow, of brown and of pale pixels, the leaf's area, and the mean absolute difference of horizontal
// neighbours (texture).
func features(img image.Image) []float64 {
	b := img.Bounds()
	var f [8]float64
	var prev [3]float64
	leaf := 0.0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			R, G, B := float64(r>>8), float64(g>>8), float64(bl>>8)
			yellow := R > 150 && G > 140 && B < 90
			brown := R > 1.25*G && B < 0.4*R && R > 40
			if (G > 95 && G > R) || yellow || brown {
				leaf++
				f[0] += R
				f[1] += G
				f[2] += B
				if yellow {
					f[3]++
				}
				if brown {
					f[4]++
				}
				if G > 160 && R > 120 && !yellow {
					f[5]++
				}
				if x > b.Min.X {
					f[7] += math.Abs(R-prev[0]) + math.Abs(G-prev[1]) + math.Abs(B-prev[2])
				}
			}
			prev = [3]float64{R, G, B}
		}
	}
	leaf = max(leaf, 1)
	f[6] = leaf / float64(b.Dx()*b.Dy())
	return []float64{f[0] / leaf / 255, f[1] / leaf / 255, f[2] / leaf / 255, f[3] / leaf, f[4] / leaf, f[5] / leaf, 2 * f[6], f[7] / leaf / 255}
}

// The classes must be told apart by their textures and colours, as the diseases are: a nearest-centroid
// classifier on 8 colour statistics of the leaf, trained on some images and tested on others, beats chance (20%)
// by far, and healthy leaves have the least yellow.
func TestSyntheticClassesAreLearnable(t *testing.T) {
	const perClass = 24
	ds, err := Synthetic(SyntheticOptions{Seed: 11, Counts: []int{perClass, perClass, perClass, perClass, perClass}, Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	type sample struct {
		f     []float64
		label int
	}
	var train, test []sample
	seen := make([]int, 5)
	for i := 0; i < ds.Len(); i++ {
		img, _ := ds.Image(i)
		s := sample{features(img), ds.Label(i)}
		if seen[s.label] < perClass/2 {
			train = append(train, s)
		} else {
			test = append(test, s)
		}
		seen[s.label]++
	}
	centroid := make([][]float64, 5)
	for c := range centroid {
		centroid[c] = make([]float64, len(train[0].f))
	}
	for _, s := range train {
		for j, v := range s.f {
			centroid[s.label][j] += v / (perClass / 2)
		}
	}
	correct := 0
	var confusion [5][5]int
	for _, s := range test {
		best, bestD := -1, math.Inf(1)
		for c := range centroid {
			d := 0.0
			for j, v := range s.f {
				d += (v - centroid[c][j]) * (v - centroid[c][j])
			}
			if d < bestD {
				best, bestD = c, d
			}
		}
		if best == s.label {
			correct++
		}
		confusion[s.label][best]++
	}
	t.Logf("confusion (true x predicted): %v", confusion)
	if acc := float64(correct) / float64(len(test)); acc < 0.6 {
		t.Errorf("nearest-centroid accuracy %.2f, want >= 0.6 (chance 0.2): classes are too alike", acc)
	}
	yellow := func(c int) float64 { return centroid[c][3] }
	for _, c := range []int{synCBSD, synCMD} {
		if yellow(c) <= 2*yellow(synHealthy) {
			t.Errorf("class %s yellow fraction %.3f, not above healthy's %.3f", CassavaClasses[c], yellow(c), yellow(synHealthy))
		}
	}
	if centroid[synCBB][4] <= 2*centroid[synHealthy][4] {
		t.Errorf("CBB brown fraction %.3f, not above healthy's %.3f", centroid[synCBB][4], centroid[synHealthy][4])
	}
}

func BenchmarkSyntheticImage800x600(b *testing.B) {
	ds, err := Synthetic(SyntheticOptions{Seed: 1, Total: 100, Width: 800, Height: 600})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		if _, err := ds.Image(i % 100); err != nil {
			b.Fatal(err)
		}
	}
}
