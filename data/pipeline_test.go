package data

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/supcon-go/supcon/data/augment"
)

// memDataset is an in-memory Dataset whose images differ per index; bad
// indices fail, and jitter sleeps a pseudo-random time per image so workers
// finish out of order.
type memDataset struct {
	n      int
	bad    map[int]bool
	jitter bool
}

func (d *memDataset) Len() int          { return d.n }
func (d *memDataset) ID(i int) string   { return fmt.Sprintf("img-%03d", i) }
func (d *memDataset) Label(i int) int   { return i % 3 }
func (d *memDataset) Classes() []string { return []string{"a", "b", "c"} }
func (d *memDataset) Image(i int) (image.Image, error) {
	if d.jitter {
		time.Sleep(time.Duration((i*7919)%5) * time.Millisecond)
	}
	if d.bad[i] {
		return nil, errors.New("corrupt JPEG")
	}
	img := image.NewRGBA(image.Rect(0, 0, 24+i%5, 20))
	for y := range 20 {
		for x := range 24 + i%5 {
			img.Set(x, y, color.RGBA{uint8(10 * i), uint8(8 * x), uint8(9 * y), 255})
		}
	}
	return img, nil
}

// permOrder shuffles every epoch differently.
type permOrder struct{ n int }

func (o permOrder) Epoch(e int) []int {
	return rand.New(rand.NewPCG(uint64(e), 99)).Perm(o.n)
}

func collect(t *testing.T, ds Dataset, opts PipelineOptions) []*Batch {
	t.Helper()
	p, err := NewPipeline(context.Background(), ds, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out []*Batch
	for {
		b, err := p.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

func smallAug() augment.Config {
	c := augment.Default(16)
	c.Cutout.Prob = 1 // exercise every op
	return c
}

func batchBytes(b *Batch) []byte {
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, b.Images)
	binary.Write(&buf, binary.LittleEndian, b.ImagesBF16)
	binary.Write(&buf, binary.LittleEndian, b.Labels)
	fmt.Fprint(&buf, b.Epoch, b.Step, b.Valid, b.Last, b.Indices, b.IDs)
	return buf.Bytes()
}

func TestPipelineDeterministicAcrossWorkers(t *testing.T) {
	ds := &memDataset{n: 23, jitter: true}
	opts := PipelineOptions{BatchSize: 4, Views: 2, Augment: smallAug(), Order: permOrder{23}, Seed: 5, Epochs: 2, DropRemainder: true}
	opts.Workers = 1
	one := collect(t, ds, opts)
	opts.Workers = 4
	four := collect(t, ds, opts)
	if len(one) != 10 || len(four) != 10 {
		t.Fatalf("got %d and %d batches, want 2 epochs x 5", len(one), len(four))
	}
	for i := range one {
		if !bytes.Equal(batchBytes(one[i]), batchBytes(four[i])) {
			t.Fatalf("batch %d differs between 1 and 4 workers", i)
		}
	}
	// The two views of an image are different draws; epochs differ.
	row := one[0].rowLen() / 2
	if bytes.Equal(f32bytes(one[0].Images[:row]), f32bytes(one[0].Images[row:2*row])) {
		t.Error("view 0 and view 1 are identical")
	}
	opts.Seed = 6
	other := collect(t, ds, opts)
	if bytes.Equal(batchBytes(one[0]), batchBytes(other[0])) {
		t.Error("a different seed gave the same first batch")
	}
}

func f32bytes(v []float32) []byte {
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, v)
	return buf.Bytes()
}

func TestPipelineRowsHoldTheRightImages(t *testing.T) {
	ds := &memDataset{n: 7}
	aug := augment.Eval(12)
	batches := collect(t, ds, PipelineOptions{BatchSize: 3, Augment: aug, Order: permOrder{7}, Epochs: 1, Workers: 3})
	a, _ := augment.New(aug)
	want := make([]float32, a.Len())
	order := permOrder{7}.Epoch(0)
	pos := 0
	for _, b := range batches {
		for r := range b.Valid {
			i := order[pos]
			pos++
			if b.Indices[r] != i || b.IDs[r] != ds.ID(i) || b.Labels[r] != int32(i%3) {
				t.Fatalf("batch %d row %d: index %d id %s label %d, want %d", b.Step, r, b.Indices[r], b.IDs[r], b.Labels[r], i)
			}
			img, _ := ds.Image(i)
			rng := augment.NewRNG(0)
			if err := a.Apply(want, img, &rng); err != nil {
				t.Fatal(err)
			}
			got := b.Images[r*a.Len() : (r+1)*a.Len()]
			if !bytes.Equal(f32bytes(got), f32bytes(want)) {
				t.Fatalf("row %d of batch %d is not image %d resized", r, b.Step, i)
			}
		}
	}
	if pos != 7 {
		t.Errorf("covered %d images, want 7", pos)
	}
}

func TestDropRemainderVersusFullCoverage(t *testing.T) {
	ds := &memDataset{n: 10}
	order := permOrder{10}
	base := PipelineOptions{BatchSize: 4, Augment: augment.Eval(8), Order: order, FirstEpoch: 3, Epochs: 2, Workers: 2}

	drop := base
	drop.DropRemainder = true
	got := collect(t, ds, drop)
	if len(got) != 4 {
		t.Fatalf("drop remainder: %d batches, want 2 per epoch", len(got))
	}
	for k, b := range got {
		e, s := 3+k/2, k%2
		if b.Epoch != e || b.Step != s || b.Valid != 4 || b.Last != (s == 1) {
			t.Errorf("drop batch %d: epoch %d step %d valid %d last %v", k, b.Epoch, b.Step, b.Valid, b.Last)
		}
		if want := order.Epoch(e)[4*s : 4*s+4]; fmt.Sprint(b.Indices) != fmt.Sprint(want) {
			t.Errorf("drop batch %d indices %v, want %v", k, b.Indices, want)
		}
	}

	got = collect(t, ds, base)
	if len(got) != 6 {
		t.Fatalf("full coverage: %d batches, want 3 per epoch", len(got))
	}
	for e := range 2 {
		var seen []int
		for _, b := range got[3*e : 3*e+3] {
			seen = append(seen, b.Indices...)
		}
		if fmt.Sprint(seen) != fmt.Sprint(order.Epoch(3+e)) {
			t.Errorf("epoch %d covered %v, want %v", 3+e, seen, order.Epoch(3+e))
		}
		last := got[3*e+2]
		if !last.Last || last.Valid != 2 || last.Size != 4 {
			t.Fatalf("last batch: last %v valid %d size %d", last.Last, last.Valid, last.Size)
		}
		if fmt.Sprint(last.Labels[2:]) != "[-1 -1]" || fmt.Sprint(last.Mask()) != "[1 1 0 0]" {
			t.Errorf("padding rows: labels %v mask %v", last.Labels, last.Mask())
		}
		for _, v := range last.Images[2*last.rowLen():] {
			if v != 0 {
				t.Fatal("padding row is not zero")
			}
		}
	}
}

func TestShards(t *testing.T) {
	b := &Batch{Size: 6, Valid: 5, Views: 2, Height: 1, Width: 1,
		Images: make([]float32, 6*2*3), Labels: []int32{0, 1, 2, 3, 4, -1},
		Indices: []int{10, 11, 12, 13, 14}, IDs: []string{"a", "b", "c", "d", "e"}}
	for i := range b.Images {
		b.Images[i] = float32(i)
	}
	sh, err := b.Shards(3)
	if err != nil {
		t.Fatal(err)
	}
	for k, s := range sh {
		if s.Size != 2 || len(s.Images) != 12 || s.Images[0] != float32(12*k) || s.Labels[0] != int32(2*k) {
			t.Errorf("shard %d: size %d, %d values starting %g, label %d", k, s.Size, len(s.Images), s.Images[0], s.Labels[0])
		}
	}
	if sh[0].Valid != 2 || sh[2].Valid != 1 || fmt.Sprint(sh[2].IDs) != "[e]" || fmt.Sprint(sh[1].Indices) != "[12 13]" {
		t.Errorf("shard bookkeeping: valid %d/%d ids %v indices %v", sh[0].Valid, sh[2].Valid, sh[2].IDs, sh[1].Indices)
	}
	if _, err := b.Shards(4); err == nil || !strings.Contains(err.Error(), "4 equal shards") {
		t.Errorf("6 rows into 4 shards: err %v", err)
	}
	if _, err := NewPipeline(context.Background(), &memDataset{n: 5}, PipelineOptions{BatchSize: 6, NumShards: 4}); err == nil {
		t.Error("NumShards 4 with batch 6 accepted")
	}
}

// bf16Ref rounds with exact rational arithmetic: the nearer of the two
// bfloat16 neighbours, the even one on a tie.
func bf16Ref(f float32) uint16 {
	bits := math.Float32bits(f)
	lo := uint16(bits >> 16)
	if bits&0xffff == 0 {
		return lo
	}
	hi := lo + 1
	x := new(big.Float).SetFloat64(float64(f))
	dl := new(big.Float).Sub(x, new(big.Float).SetFloat64(float64(FromBFloat16(lo))))
	dh := new(big.Float).Sub(new(big.Float).SetFloat64(float64(FromBFloat16(hi))), x)
	dl.Abs(dl)
	dh.Abs(dh)
	switch dl.Cmp(dh) {
	case -1:
		return lo
	case 1:
		return hi
	}
	if lo&1 == 0 {
		return lo
	}
	return hi
}

func TestBFloat16RoundsToNearestEven(t *testing.T) {
	cases := map[uint32]uint16{
		0x3f800000: 0x3f80, // 1
		0x3f808000: 0x3f80, // tie, even stays
		0x3f818000: 0x3f82, // tie, odd rounds up
		0x3f808001: 0x3f81, // just above the tie
		0x7f7fffff: 0x7f80, // max float rounds to +Inf
		0xff800000: 0xff80, // -Inf
		0x80000000: 0x8000, // -0
	}
	for in, want := range cases {
		if got := BFloat16(math.Float32frombits(in)); got != want {
			t.Errorf("BFloat16(%#08x) = %#04x, want %#04x", in, got, want)
		}
	}
	if got := BFloat16(float32(math.NaN())); got&0x7f80 != 0x7f80 || got&0x7f == 0 {
		t.Errorf("NaN became %#04x", got)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		f := math.Float32frombits(r.Uint32())
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) || math.Abs(float64(f)) > math.MaxFloat32/2 {
			continue
		}
		if got, want := BFloat16(f), bf16Ref(f); got != want {
			t.Fatalf("BFloat16(%g) = %#04x, exact rounding gives %#04x", f, got, want)
		}
	}
	// The pipeline's bfloat16 output is the float32 output converted.
	ds := &memDataset{n: 4}
	opts := PipelineOptions{BatchSize: 4, Augment: smallAug(), Epochs: 1, Seed: 3}
	f32 := collect(t, ds, opts)
	opts.BFloat16 = true
	b16 := collect(t, ds, opts)
	if b16[0].Images != nil || len(b16[0].ImagesBF16) != len(f32[0].Images) {
		t.Fatal("bfloat16 batch has the wrong buffers")
	}
	for i, v := range f32[0].Images {
		if b16[0].ImagesBF16[i] != BFloat16(v) {
			t.Fatalf("value %d: bf16 %#04x, want BFloat16(%g)", i, b16[0].ImagesBF16[i], v)
		}
	}
}

func TestPipelineErrorNamesImageOrSkips(t *testing.T) {
	ds := &memDataset{n: 9, bad: map[int]bool{5: true}}
	p, err := NewPipeline(context.Background(), ds, PipelineOptions{BatchSize: 2, Augment: augment.Eval(8), Epochs: 1, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var last error
	n := 0
	for last == nil {
		_, last = p.Next()
		n++
	}
	if !strings.Contains(last.Error(), "img-005") || !strings.Contains(last.Error(), "corrupt JPEG") {
		t.Errorf("error %q does not name img-005 and the cause", last)
	}
	if n != 3 {
		t.Errorf("error came after %d batches, want after the 2 batches before image 5", n-1)
	}
	if _, again := p.Next(); again != last {
		t.Errorf("second Next gave %v, want the same error", again)
	}

	var logged []string
	got := collect(t, ds, PipelineOptions{BatchSize: 2, Augment: augment.Eval(8), Epochs: 1, SkipBad: true, DropRemainder: true,
		Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }})
	var seen []int
	for _, b := range got {
		seen = append(seen, b.Indices...)
	}
	if fmt.Sprint(seen) != "[0 1 2 3 4 6 7 8]" || !got[len(got)-1].Last {
		t.Errorf("skipping: covered %v (last flag %v), want 0..8 without 5", seen, got[len(got)-1].Last)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "img-005") {
		t.Errorf("skip log %q", logged)
	}

	// A bad image at the very end of an evaluation epoch: the batch before it
	// becomes the epoch's last, and nothing is padded.
	ds = &memDataset{n: 9, bad: map[int]bool{8: true}}
	got = collect(t, ds, PipelineOptions{BatchSize: 2, Augment: augment.Eval(8), Epochs: 2, SkipBad: true, Logf: func(string, ...any) {}})
	if len(got) != 8 {
		t.Fatalf("%d batches, want 4 per epoch", len(got))
	}
	for i, b := range got {
		if b.Last != (b.Step == 3) || b.Valid != 2 || b.Epoch != i/4 {
			t.Errorf("batch %d: epoch %d step %d last %v valid %d", i, b.Epoch, b.Step, b.Last, b.Valid)
		}
	}
}

func TestPipelineAllSkippedIsAnError(t *testing.T) {
	ds := &memDataset{n: 3, bad: map[int]bool{0: true, 1: true, 2: true}}
	p, err := NewPipeline(context.Background(), ds, PipelineOptions{BatchSize: 2, Augment: augment.Eval(8), SkipBad: true, Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Next(); err == nil || !strings.Contains(err.Error(), "no batch") {
		t.Errorf("endless pipeline over only bad images: err %v", err)
	}
}

func TestPipelineRejectsBadOrder(t *testing.T) {
	p, err := NewPipeline(context.Background(), &memDataset{n: 4}, PipelineOptions{BatchSize: 2, Order: badOrder{}, Epochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Next(); err == nil || !strings.Contains(err.Error(), "index 7") {
		t.Errorf("out-of-range order: err %v", err)
	}
}

type badOrder struct{}

func (badOrder) Epoch(int) []int { return []int{0, 7} }

// TestCloseAndCancelStopEveryGoroutine runs endless pipelines and stops them
// mid-stream, with Close and with the context.
func TestCloseAndCancelStopEveryGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	ds := &memDataset{n: 50, jitter: true}
	opts := PipelineOptions{BatchSize: 4, Views: 2, Augment: smallAug(), Workers: 4, Prefetch: 1}
	p, err := NewPipeline(context.Background(), ds, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Next(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.Close()
	if _, err := p.Next(); err == nil {
		t.Error("Next after Close returned a batch")
	}

	ctx, cancel := context.WithCancel(context.Background())
	q, err := NewPipeline(ctx, ds, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	for {
		if _, err := q.Next(); err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("after cancel: %v, want context.Canceled", err)
			}
			break
		}
	}
	q.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// ExampleNewPipeline shows the training wiring: class-balanced order, two
// augmented views per image, batches split across 4 devices.
func ExampleNewPipeline() {
	ds, err := Synthetic(SyntheticOptions{Seed: 1, Total: 64})
	if err != nil {
		panic(err)
	}
	order, err := NewSampler(SampleBalanced, ds, 16, 1)
	if err != nil {
		panic(err)
	}
	p, err := NewPipeline(context.Background(), ds, PipelineOptions{
		BatchSize: 16, Views: 2, Augment: augment.Default(64), Order: order,
		Seed: 1, Epochs: 1, DropRemainder: true, NumShards: 4,
	})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	for {
		b, err := p.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		shards, _ := b.Shards(4)
		fmt.Println(b.Epoch, b.Step, b.Shape(), len(shards[0].Labels), b.Last)
		p.Recycle(b)
	}
	// Output:
	// 0 0 [16 2 64 64 3] 4 false
	// 0 1 [16 2 64 64 3] 4 false
	// 0 2 [16 2 64 64 3] 4 false
	// 0 3 [16 2 64 64 3] 4 true
}
