package data

import (
	"math/rand/v2"

	"github.com/pkg/errors"
)

// Sampler kinds accepted by NewSampler.
const (
	// SampleNone is a plain shuffle of the dataset each epoch.
	SampleNone = "none"
	// SampleOversample repeats the minority classes each epoch so that every class appears as often as
	// the largest one (the article's remedy for Cassava's imbalance: 13158 CMD vs 1087 CBB). Every image
	// of a class appears floor(max/n) times, plus a random draw without replacement for the rest; the
	// whole epoch is then shuffled, so each batch position has the same chance of each class.
	SampleOversample = "oversample"
	// SampleBalanced makes class-balanced batches: each batch of batchSize holds every class
	// batchSize/K times (the remaining batchSize%K slots go to classes in rotation), as SupCon needs
	// positives of every class in a batch. Images of a class are drawn without replacement, reshuffled
	// when exhausted. An epoch has ceil(N/batchSize) full batches, so the majority classes are not all
	// seen every epoch (each epoch draws afresh from (seed, epoch)) and the minority ones repeat.
	// On several devices, where each computes the loss over its own shard, give NewSampler the
	// per-device batch size: the shards of a global batch (Batch.Shards) are consecutive runs of that
	// size, so each of them holds every class.
	SampleBalanced = "balanced"
)

// SamplerKinds lists the accepted kinds, for flag help.
var SamplerKinds = []string{SampleNone, SampleOversample, SampleBalanced}

// Sampler produces the order in which an epoch visits a dataset's images. The pipeline cuts the
// order into consecutive batches of the batch size given to NewSampler.
type Sampler interface {
	// Epoch returns the dataset indices of epoch (0-based), the same for the same (seed, epoch).
	// For SampleBalanced its length is a multiple of the batch size and each batch holds every class.
	Epoch(epoch int) []int
	// EpochLen is len(Epoch(e)), the same for every epoch.
	EpochLen() int
	Kind() string
}

// NewSampler returns a Sampler of the given kind (SampleNone, SampleOversample, SampleBalanced) over
// ds, deterministic from seed. Oversampling and balancing need every image labelled; balanced batches
// need batchSize >= the number of classes and no empty class.
func NewSampler(kind string, ds Dataset, batchSize int, seed uint64) (Sampler, error) {
	if ds.Len() == 0 {
		return nil, errors.New("sampler: empty dataset")
	}
	if batchSize < 1 {
		return nil, errors.Errorf("sampler: batch size %d, must be >= 1", batchSize)
	}
	base := samplerBase{kind: kind, seed: seed, n: ds.Len()}
	if kind == SampleNone {
		return &shuffleSampler{base}, nil
	}
	if kind != SampleOversample && kind != SampleBalanced {
		return nil, errors.Errorf("sampler: unknown kind %q, expected one of %q", kind, SamplerKinds)
	}
	k := len(ds.Classes())
	byClass := make([][]int, k)
	for i := 0; i < ds.Len(); i++ {
		l := ds.Label(i)
		if l < 0 || l >= k {
			return nil, errors.Errorf("sampler %q: image %s has label %d, not a class of %q (unlabelled data can only use %q)",
				kind, ds.ID(i), l, ds.Classes(), SampleNone)
		}
		byClass[l] = append(byClass[l], i)
	}
	if kind == SampleOversample {
		largest, nonEmpty := 0, 0
		for _, idx := range byClass {
			largest = max(largest, len(idx))
			if len(idx) > 0 {
				nonEmpty++
			}
		}
		return &oversampler{samplerBase: base, byClass: byClass, target: largest, length: largest * nonEmpty}, nil
	}
	if batchSize < k {
		return nil, errors.Errorf("sampler %q: batch size %d is smaller than the %d classes: a batch cannot hold every class", kind, batchSize, k)
	}
	for c, idx := range byClass {
		if len(idx) == 0 {
			return nil, errors.Errorf("sampler %q: class %s has no images, so no batch can hold every class", kind, ds.Classes()[c])
		}
	}
	return &balancedSampler{samplerBase: base, byClass: byClass, batchSize: batchSize}, nil
}

type samplerBase struct {
	kind string
	seed uint64
	n    int
}

func (s *samplerBase) Kind() string { return s.kind }

// rng is the epoch's random stream: a function of (seed, epoch) only.
func (s *samplerBase) rng(epoch int) *rand.Rand {
	return rand.New(rand.NewPCG(s.seed, uint64(epoch)+0x51ed))
}

type shuffleSampler struct{ samplerBase }

func (s *shuffleSampler) EpochLen() int { return s.n }

func (s *shuffleSampler) Epoch(epoch int) []int { return s.rng(epoch).Perm(s.n) }

type oversampler struct {
	samplerBase
	byClass [][]int
	target  int // images per class per epoch: the largest class's count
	length  int
}

func (s *oversampler) EpochLen() int { return s.length }

func (s *oversampler) Epoch(epoch int) []int {
	rng := s.rng(epoch)
	out := make([]int, 0, s.length)
	for _, idx := range s.byClass {
		if len(idx) == 0 {
			continue
		}
		for r := 0; r < s.target/len(idx); r++ {
			out = append(out, idx...)
		}
		for _, j := range rng.Perm(len(idx))[:s.target%len(idx)] {
			out = append(out, idx[j])
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

type balancedSampler struct {
	samplerBase
	byClass   [][]int
	batchSize int
}

// BalancedBatch is the batch size every run of which holds every class; the pipeline checks that its
// batches are made of whole runs.
func (s *balancedSampler) BalancedBatch() int { return s.batchSize }

func (s *balancedSampler) EpochLen() int {
	return (s.n + s.batchSize - 1) / s.batchSize * s.batchSize
}

func (s *balancedSampler) Epoch(epoch int) []int {
	rng := s.rng(epoch)
	k := len(s.byClass)
	// Each class is a stream without replacement that reshuffles when exhausted.
	pools := make([][]int, k)
	next := func(c int) int {
		if len(pools[c]) == 0 {
			pools[c] = append(pools[c], s.byClass[c]...)
			rng.Shuffle(len(pools[c]), func(i, j int) { pools[c][i], pools[c][j] = pools[c][j], pools[c][i] })
		}
		i := pools[c][0]
		pools[c] = pools[c][1:]
		return i
	}
	// The batchSize%k extra slots rotate through a shuffled class order, so over batches every class
	// gets the same share of them.
	rotation := rng.Perm(k)
	pos := 0
	out := make([]int, 0, s.EpochLen())
	batch := make([]int, 0, s.batchSize)
	for len(out) < s.EpochLen() {
		batch = batch[:0]
		for c := 0; c < k; c++ {
			for r := 0; r < s.batchSize/k; r++ {
				batch = append(batch, next(c))
			}
		}
		for r := 0; r < s.batchSize%k; r++ {
			batch = append(batch, next(rotation[pos%k]))
			pos++
		}
		rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		out = append(out, batch...)
	}
	return out
}
