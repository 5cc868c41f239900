package data

import (
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// batchStats returns, per class, the mean and variance over batches of the number of images of that
// class in a batch, for the first nBatches batches of order.
func batchStats(ds Dataset, order []int, batchSize, nBatches int) (mean, variance []float64) {
	k := len(ds.Classes())
	mean, variance = make([]float64, k), make([]float64, k)
	for b := 0; b < nBatches; b++ {
		h := histogram(ds, order[b*batchSize:(b+1)*batchSize], k)
		for c := range h {
			mean[c] += float64(h[c])
			variance[c] += float64(h[c] * h[c])
		}
	}
	for c := range mean {
		mean[c] /= float64(nBatches)
		variance[c] = variance[c]/float64(nBatches) - mean[c]*mean[c]
	}
	return mean, variance
}

func TestSamplerNone(t *testing.T) {
	ds := cassavaLabels(t, 500)
	s, err := NewSampler(SampleNone, ds, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	e0 := s.Epoch(0)
	sorted := append([]int(nil), e0...)
	sort.Ints(sorted)
	for i, v := range sorted {
		if v != i {
			t.Fatalf("epoch is not a permutation of the dataset")
		}
	}
	if s.EpochLen() != ds.Len() || !reflect.DeepEqual(e0, s.Epoch(0)) || reflect.DeepEqual(e0, s.Epoch(1)) {
		t.Error("want the same order for the same (seed, epoch), another for another epoch")
	}
	// Unlabelled data can be shuffled, not balanced.
	unl := &labelsOnly{labels: []int{-1, -1, -1}, classes: CassavaClasses}
	if _, err := NewSampler(SampleNone, unl, 2, 0); err != nil {
		t.Error(err)
	}
	for _, kind := range []string{SampleOversample, SampleBalanced} {
		if _, err := NewSampler(kind, unl, 8, 0); err == nil || !strings.Contains(err.Error(), "img0") {
			t.Errorf("%s on unlabelled data: %v", kind, err)
		}
	}
	if _, err := NewSampler("random", ds, 8, 0); err == nil || !strings.Contains(err.Error(), "random") {
		t.Errorf("unknown kind: %v", err)
	}
}

func TestSamplerOversample(t *testing.T) {
	ds := cassavaLabels(t, 2000) // CMD ~1230, CBB ~102
	s, err := NewSampler(SampleOversample, ds, 32, 5)
	if err != nil {
		t.Fatal(err)
	}
	counts := ClassCounts(ds)
	largest := counts[3]
	order := s.Epoch(0)
	if len(order) != 5*largest || s.EpochLen() != len(order) {
		t.Fatalf("epoch of %d images, want 5 x %d", len(order), largest)
	}
	if got := histogram(ds, order, 5); !reflect.DeepEqual(got, []int{largest, largest, largest, largest, largest}) {
		t.Errorf("epoch class counts %v, want %d each", got, largest)
	}
	// Every image of a class is used floor(largest/n) or that +1 times: repeats, not a few favourites.
	uses := make([]int, ds.Len())
	for _, i := range order {
		uses[i]++
	}
	for i, u := range uses {
		n := counts[ds.Label(i)]
		if u < largest/n || u > largest/n+1 {
			t.Fatalf("image %d of a class of %d used %d times, want %d or %d", i, n, u, largest/n, largest/n+1)
		}
	}
	// Per batch, each class count is about Binomial(32, 1/5): mean 6.4, variance 5.12. With 150
	// batches, the mean's standard error is ~0.18; the bounds are 4+ standard errors wide.
	mean, variance := batchStats(ds, order, 32, 150)
	for c := range mean {
		if math.Abs(mean[c]-6.4) > 0.8 || variance[c] < 2.5 || variance[c] > 8.5 {
			t.Errorf("class %s: per-batch mean %.2f (want 6.4±0.8), variance %.2f (want ~5.1)", ds.classes[c], mean[c], variance[c])
		}
	}
	// Without oversampling, CBB (5%) is rare in batches: the difference the sampler makes.
	plain, _ := NewSampler(SampleNone, ds, 32, 5)
	pm, _ := batchStats(ds, plain.Epoch(0), 32, 60)
	if pm[0] > 3 || mean[0] < 5 {
		t.Errorf("CBB per batch: %.2f plain, %.2f oversampled; want < 3 and > 5", pm[0], mean[0])
	}
	if !reflect.DeepEqual(order, s.Epoch(0)) || reflect.DeepEqual(order, s.Epoch(1)) {
		t.Error("want the same order for the same (seed, epoch), another for another epoch")
	}
}

func TestSamplerBalanced(t *testing.T) {
	ds := cassavaLabels(t, 700)
	for _, bs := range []int{5, 8, 32} {
		s, err := NewSampler(SampleBalanced, ds, bs, 9)
		if err != nil {
			t.Fatal(err)
		}
		order := s.Epoch(2)
		if len(order)%bs != 0 || len(order) < ds.Len() || len(order) >= ds.Len()+bs || s.EpochLen() != len(order) {
			t.Fatalf("batch %d: epoch of %d, want ceil(%d/%d) full batches", bs, len(order), ds.Len(), bs)
		}
		extra := make([]int, 5)
		for b := 0; b < len(order)/bs; b++ {
			h := histogram(ds, order[b*bs:(b+1)*bs], 5)
			for c, n := range h {
				if n < bs/5 || n > bs/5+1 {
					t.Fatalf("batch size %d, batch %d: class counts %v, want %d or %d of each", bs, b, h, bs/5, bs/5+1)
				}
				extra[c] += n - bs/5
			}
		}
		// The bs%5 extra slots rotate: over the epoch each class gets its share (±1).
		nb := len(order) / bs
		for c, e := range extra {
			if share := nb * (bs % 5) / 5; e < share-1 || e > share+1 {
				t.Errorf("batch size %d: class %d got %d extra slots, want %d±1", bs, c, e, share)
			}
		}
		// Within a class, images are drawn without replacement, reshuffled when exhausted: over the
		// epoch, the images of a class are used equally often (±1), the minority ones repeatedly.
		uses := map[int]int{}
		for _, i := range order {
			uses[i]++
		}
		for c := 0; c < 5; c++ {
			lo, hi := math.MaxInt, 0
			for i := 0; i < ds.Len(); i++ {
				if ds.Label(i) == c {
					lo, hi = min(lo, uses[i]), max(hi, uses[i])
				}
			}
			if hi-lo > 1 || hi == 0 {
				t.Errorf("batch size %d, class %d: images used between %d and %d times, want equal ±1", bs, c, lo, hi)
			}
		}
		if !reflect.DeepEqual(order, s.Epoch(2)) {
			t.Error("not deterministic")
		}
	}
	if _, err := NewSampler(SampleBalanced, ds, 4, 0); err == nil || !strings.Contains(err.Error(), "smaller than the 5 classes") {
		t.Errorf("batch smaller than the classes: %v", err)
	}
	empty := &labelsOnly{labels: []int{0, 0, 2}, classes: []string{"a", "b", "c"}}
	if _, err := NewSampler(SampleBalanced, empty, 3, 0); err == nil || !strings.Contains(err.Error(), "class b has no images") {
		t.Errorf("empty class: %v", err)
	}
}
