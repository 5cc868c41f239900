package data

import (
	"context"
	"fmt"
	"image"
	"io"
	"log"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/pkg/errors"

	"github.com/supcon-go/supcon/data/augment"
)

// Order gives the dataset indices visited by each epoch, in order. A Sampler
// satisfies it; nil in PipelineOptions means 0..Len-1 every epoch.
type Order interface {
	Epoch(e int) []int
}

// PipelineOptions configures NewPipeline.
type PipelineOptions struct {
	BatchSize int // global batch size; required
	// Views per image: 1, or 2 for multi-view SupCon (independent draws).
	Views int
	// Augment is the per-view augmentation; a zero Width means augment.Eval(512)
	// (plain resize, for evaluation).
	Augment augment.Config
	Order   Order
	// Seed, with the epoch, the position in the epoch and the view, seeds
	// every view's RNG: batches are identical whatever the worker count.
	Seed uint64
	// FirstEpoch is the epoch the pipeline starts at (resuming); Epochs is how
	// many it runs, 0 for endless.
	FirstEpoch, Epochs int
	// DropRemainder drops each epoch's last partial batch (training); without
	// it the last batch is padded (see Batch) so evaluation covers every image.
	DropRemainder bool
	// Workers decoding and augmenting in parallel; 0 means GOMAXPROCS.
	Workers int
	// Prefetch is how many finished batches may wait for Next; 0 means 2.
	Prefetch int
	// NumShards, when > 1, requires BatchSize to split evenly across that
	// many devices (checked here rather than at the first Shards call).
	NumShards int
	// BFloat16 produces Batch.ImagesBF16 instead of Batch.Images.
	BFloat16 bool
	// SkipBad skips images whose Image() fails (logged through Logf and
	// counted in Skipped) instead of stopping with the error.
	SkipBad bool
	Logf    func(format string, args ...any)
}

// Pipeline decodes, augments and batches a Dataset with parallel workers.
// Next returns batches in a deterministic order; Close stops everything.
type Pipeline struct {
	ds   Dataset
	opts PipelineOptions
	aug  *augment.Augmenter
	view int // values per rendered view

	cancel context.CancelFunc
	ctx    context.Context
	wg     sync.WaitGroup
	out    chan batchOrErr
	err    error // sticky: EOF or the first error, returned by every later Next

	finished atomic.Bool // the assembler delivered every requested epoch
	closed   atomic.Bool

	mu      sync.Mutex
	skipped []Skip

	items   sync.Pool // *item buffers
	batches sync.Pool // recycled image buffers (Recycle)
}

type batchOrErr struct {
	b   *Batch
	err error
}

// job is one image of one epoch; seq numbers jobs across epochs.
type job struct {
	seq, epoch, pos, index int
	last                   bool  // last job of its epoch
	err                    error // the epoch's order is unusable (index -1)
}

// item is a rendered image: all its views, in the output dtype.
type item struct {
	job
	f32 []float32
	u16 []uint16
	err error
}

var errClosed = errors.New("data: pipeline closed")

// NewPipeline validates the options and starts the workers; they run until
// the requested epochs are done, ctx is cancelled or Close is called.
func NewPipeline(ctx context.Context, ds Dataset, opts PipelineOptions) (*Pipeline, error) {
	if ds == nil || ds.Len() == 0 {
		return nil, errors.New("data: pipeline needs a non-empty dataset")
	}
	if opts.BatchSize < 1 {
		return nil, errors.Errorf("data: batch size %d, must be >= 1", opts.BatchSize)
	}
	if opts.Views == 0 {
		opts.Views = 1
	}
	if opts.Views < 1 || opts.Views > 16 {
		return nil, errors.Errorf("data: %d views per image, want 1..16", opts.Views)
	}
	if opts.NumShards > 1 && opts.BatchSize%opts.NumShards != 0 {
		return nil, errors.Errorf("data: batch size %d does not split into %d equal shards", opts.BatchSize, opts.NumShards)
	}
	if b, ok := opts.Order.(interface{ BalancedBatch() int }); ok && opts.BatchSize%b.BalancedBatch() != 0 {
		// Batches cut across the sampler's balanced runs would silently lose classes.
		return nil, errors.Errorf("data: batch size %d is not a multiple of the balanced sampler's batch size %d", opts.BatchSize, b.BalancedBatch())
	}
	if opts.Augment.Width == 0 {
		opts.Augment = augment.Eval(512)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 2
	}
	if opts.Epochs < 0 || opts.FirstEpoch < 0 {
		return nil, errors.Errorf("data: epochs %d from %d: must not be negative", opts.Epochs, opts.FirstEpoch)
	}
	if opts.Logf == nil {
		opts.Logf = log.Printf
	}
	aug, err := augment.New(opts.Augment)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Pipeline{ds: ds, opts: opts, aug: aug, view: aug.Len(), ctx: ctx, cancel: cancel,
		out: make(chan batchOrErr, opts.Prefetch)}
	p.items.New = func() any {
		if opts.BFloat16 {
			return &item{u16: make([]uint16, opts.Views*p.view)}
		}
		return &item{f32: make([]float32, opts.Views*p.view)}
	}

	// At most window images are in flight (dispatched but not yet placed in
	// a batch): it bounds the reorder buffer and memory when one image is slow.
	window := 2*opts.Workers + 2
	jobs := make(chan job)
	done := make(chan *item, window)
	tokens := make(chan struct{}, window)
	p.wg.Add(2 + opts.Workers)
	go p.produce(jobs, tokens)
	for range opts.Workers {
		go func() {
			defer p.wg.Done()
			p.work(jobs, done)
		}()
	}
	go func() {
		defer p.wg.Done()
		defer close(p.out)
		p.assemble(done, tokens, window)
	}()
	return p, nil
}

// epochOrder returns epoch e's indices, checked against the dataset.
func (p *Pipeline) epochOrder(e int) ([]int, error) {
	var order []int
	if p.opts.Order == nil {
		order = make([]int, p.ds.Len())
		for i := range order {
			order[i] = i
		}
	} else {
		order = p.opts.Order.Epoch(e)
	}
	if len(order) == 0 {
		return nil, errors.Errorf("data: epoch %d visits no image", e)
	}
	if p.opts.DropRemainder && len(order) < p.opts.BatchSize {
		return nil, errors.Errorf("data: epoch %d has %d images, fewer than one batch of %d (with DropRemainder)", e, len(order), p.opts.BatchSize)
	}
	for _, i := range order {
		if i < 0 || i >= p.ds.Len() {
			return nil, errors.Errorf("data: epoch %d order holds index %d, outside the dataset [0, %d)", e, i, p.ds.Len())
		}
	}
	return order, nil
}

// produce hands out jobs epoch after epoch, one token each. An epoch whose
// order is unusable becomes one job carrying the error, so that the error
// reaches Next after every batch before it.
func (p *Pipeline) produce(jobs chan<- job, tokens chan<- struct{}) {
	defer p.wg.Done()
	defer close(jobs)
	seq := 0
	for e := p.opts.FirstEpoch; p.opts.Epochs == 0 || e < p.opts.FirstEpoch+p.opts.Epochs; e++ {
		order, err := p.epochOrder(e)
		n := len(order)
		if p.opts.DropRemainder && !p.opts.SkipBad {
			// Without skips the dropped tail is known now: don't render it.
			n -= n % p.opts.BatchSize
		}
		if err != nil {
			n = 1
		}
		for pos := range n {
			j := job{seq: seq, epoch: e, pos: pos, index: -1, last: pos == n-1, err: err}
			if err == nil {
				j.index = order[pos]
			}
			select {
			case tokens <- struct{}{}:
			case <-p.ctx.Done():
				return
			}
			select {
			case jobs <- j:
			case <-p.ctx.Done():
				return
			}
			seq++
		}
		if err != nil {
			return
		}
	}
}

// work renders jobs until jobs closes or the pipeline stops.
func (p *Pipeline) work(jobs <-chan job, done chan<- *item) {
	for j := range jobs {
		it := p.items.Get().(*item)
		it.job, it.err = j, j.err
		if j.err == nil {
			it.err = p.render(it)
		}
		select {
		case done <- it:
		case <-p.ctx.Done():
			return
		}
	}
}

// render decodes and augments one image into it. A panicking Dataset is
// turned into an error naming the image rather than killing the process.
func (p *Pipeline) render(it *item) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
		if err != nil {
			err = errors.Wrapf(err, "image %s (index %d, epoch %d)", p.ds.ID(it.index), it.index, it.epoch)
		}
	}()
	var img image.Image
	if img, err = p.ds.Image(it.index); err != nil {
		return err
	}
	if img == nil {
		return errors.New("dataset returned a nil image")
	}
	for v := range p.opts.Views {
		rng := augment.NewRNG(augment.SeedFor(p.opts.Seed, uint64(it.epoch), uint64(it.pos), uint64(v)))
		lo, hi := v*p.view, (v+1)*p.view
		if p.opts.BFloat16 {
			err = p.aug.ApplyBF16(it.u16[lo:hi], img, &rng)
		} else {
			err = p.aug.Apply(it.f32[lo:hi], img, &rng)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// assemble places rendered images into batches in sequence order, whatever
// order the workers finish in, and hands batches to Next.
func (p *Pipeline) assemble(done <-chan *item, tokens <-chan struct{}, window int) {
	ring := make([]*item, window)
	next, step := 0, 0
	emitted := 0 // batches completed in the current epoch
	var cur, pending *Batch
	// With SkipBad, whether a full batch is its epoch's last is only known
	// once the epoch's remaining images are in (they may all be skipped): such
	// a batch waits in pending until the next batch fills or the epoch ends.
	hold := p.opts.SkipBad
	send := func(b *Batch) bool {
		select {
		case p.out <- batchOrErr{b: b}:
			return true
		case <-p.ctx.Done():
			return false
		}
	}
	for {
		select {
		case it := <-done:
			ring[it.seq%window] = it
		case <-p.ctx.Done():
			return
		}
		for ring[next%window] != nil && ring[next%window].seq == next {
			it := ring[next%window]
			ring[next%window] = nil
			next++
			<-tokens
			if it.err != nil {
				if it.index < 0 || !p.opts.SkipBad {
					select {
					case p.out <- batchOrErr{err: it.err}:
					case <-p.ctx.Done():
					}
					p.cancel()
					return
				}
				p.skip(it)
			} else {
				if cur == nil {
					cur = p.newBatch(it.epoch, step)
					step++
				}
				p.place(cur, it)
			}
			last, epoch := it.last, it.epoch
			p.items.Put(it)
			if cur != nil && cur.Valid == cur.Size {
				if pending != nil && !send(pending) {
					return
				}
				pending, cur = cur, nil
				emitted++
			}
			if last {
				if cur != nil && !p.opts.DropRemainder {
					p.pad(cur)
					if pending != nil && !send(pending) {
						return
					}
					pending, cur = cur, nil
					emitted++
				}
				if emitted == 0 {
					// Every image was skipped (or too few were left for one
					// batch): endless epochs would spin without output.
					select {
					case p.out <- batchOrErr{err: errors.Errorf("data: epoch %d produced no batch: %d images skipped so far", epoch, len(p.Skipped()))}:
					case <-p.ctx.Done():
					}
					p.cancel()
					return
				}
				cur, step, emitted = nil, 0, 0
				if pending != nil {
					pending.Last = true
				}
			}
			if pending != nil && (!hold || last) {
				if !send(pending) {
					return
				}
				pending = nil
			}
			if last && p.opts.Epochs > 0 && epoch == p.opts.FirstEpoch+p.opts.Epochs-1 {
				p.finished.Store(true)
				p.cancel() // release the context even if Close is never called
				return
			}
		}
	}
}

func (p *Pipeline) newBatch(epoch, step int) *Batch {
	b := &Batch{Epoch: epoch, Step: step, Size: p.opts.BatchSize, Views: p.opts.Views,
		Height: p.opts.Augment.Height, Width: p.opts.Augment.Width,
		Labels:  make([]int32, p.opts.BatchSize),
		Indices: make([]int, 0, p.opts.BatchSize), IDs: make([]string, 0, p.opts.BatchSize)}
	n := b.Size * b.rowLen()
	if p.opts.BFloat16 {
		if buf, ok := p.batches.Get().([]uint16); ok && len(buf) == n {
			b.ImagesBF16 = buf
		} else {
			b.ImagesBF16 = make([]uint16, n)
		}
	} else {
		if buf, ok := p.batches.Get().([]float32); ok && len(buf) == n {
			b.Images = buf
		} else {
			b.Images = make([]float32, n)
		}
	}
	return b
}

// place copies a rendered image into the batch's next row.
func (p *Pipeline) place(b *Batch, it *item) {
	row := b.rowLen()
	r := b.Valid
	if p.opts.BFloat16 {
		copy(b.ImagesBF16[r*row:(r+1)*row], it.u16)
	} else {
		copy(b.Images[r*row:(r+1)*row], it.f32)
	}
	b.Labels[r] = int32(p.ds.Label(it.index))
	b.Indices = append(b.Indices, it.index)
	b.IDs = append(b.IDs, p.ds.ID(it.index))
	b.Valid++
}

// pad zeroes the rows after Valid and labels them -1.
func (p *Pipeline) pad(b *Batch) {
	row := b.rowLen()
	if b.Images != nil {
		clear(b.Images[b.Valid*row:])
	}
	if b.ImagesBF16 != nil {
		clear(b.ImagesBF16[b.Valid*row:])
	}
	for r := b.Valid; r < b.Size; r++ {
		b.Labels[r] = -1
	}
}

func (p *Pipeline) skip(it *item) {
	s := Skip{Where: p.ds.ID(it.index), Reason: it.err.Error()}
	p.mu.Lock()
	p.skipped = append(p.skipped, s)
	p.mu.Unlock()
	p.opts.Logf("data: skipping %s", it.err)
}

// Next returns the next batch; io.EOF after the last requested epoch. After
// an error every later call returns it again. Not for concurrent use.
func (p *Pipeline) Next() (*Batch, error) {
	if p.err != nil {
		return nil, p.err
	}
	r, ok := <-p.out
	switch {
	case ok && r.err != nil:
		p.err = r.err
	case ok:
		return r.b, nil
	case p.finished.Load():
		p.err = io.EOF
	case p.closed.Load():
		p.err = errClosed
	default:
		p.err = errors.Wrap(context.Cause(p.ctx), "data: pipeline stopped")
	}
	return nil, p.err
}

// Skipped lists the images skipped so far under SkipBad.
func (p *Pipeline) Skipped() []Skip {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Skip(nil), p.skipped...)
}

// Recycle hands a batch's image buffer back for reuse by later batches
// (optional: saves allocating ~B·V·H·W·3 values per batch). b must not be
// used afterwards, including its shards.
func (p *Pipeline) Recycle(b *Batch) {
	if b.Images != nil {
		p.batches.Put(b.Images)
	} else if b.ImagesBF16 != nil {
		p.batches.Put(b.ImagesBF16)
	}
	b.Images, b.ImagesBF16 = nil, nil
}

// Close stops the workers and waits for every goroutine to exit. It is safe
// to call more than once.
func (p *Pipeline) Close() error {
	p.closed.Store(true)
	p.cancel()
	p.wg.Wait()
	return nil
}
