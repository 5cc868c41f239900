package data

import (
	"math"

	"github.com/pkg/errors"

	"github.com/supcon-go/supcon/data/augment"
)

// Batch is one global batch of rendered views.
//
// Layout: Images (or ImagesBF16) is a flat row-major tensor of shape
// [Size, Views, Height, Width, 3] (HWC, RGB): the views of one image are
// adjacent, so splitting rows into shards keeps them together; a SupCon
// encoder reshapes it to [Size·Views, Height, Width, 3] and repeats each
// label Views times. With Views 1 the memory is exactly [Size, Height, Width,
// 3]. Labels is [Size] int32.
//
// Evaluation batches (DropRemainder false) keep the last partial batch of an
// epoch padded to Size: rows [Valid, Size) hold zero images and label -1
// (Mask gives 1 for real rows, 0 for padding), so every batch has the same
// shape (no recompilation) and splits evenly across devices. Training batches
// (DropRemainder true) are always full: Valid == Size.
type Batch struct {
	Epoch int // epoch the batch belongs to
	Step  int // batch index within its epoch
	Last  bool

	Size, Valid          int
	Views, Height, Width int

	Images     []float32 // nil when the pipeline produces bfloat16
	ImagesBF16 []uint16  // bfloat16 bits, nil unless PipelineOptions.BFloat16
	Labels     []int32

	Indices []int    // dataset index of each valid row
	IDs     []string // image id of each valid row
}

// Shape is the image tensor's shape [Size, Views, Height, Width, 3].
func (b *Batch) Shape() []int { return []int{b.Size, b.Views, b.Height, b.Width, 3} }

// rowLen is the number of values in one row (all views of one image).
func (b *Batch) rowLen() int { return b.Views * b.Height * b.Width * 3 }

// Mask returns 1 for each real row and 0 for each padding row, length Size.
func (b *Batch) Mask() []float32 {
	m := make([]float32, b.Size)
	for i := range b.Valid {
		m[i] = 1
	}
	return m
}

// Shards splits the batch into n equal batches of Size/n consecutive rows,
// one per device. They share b's buffers (no copy). Valid, Indices and IDs
// follow the rows: padding rows land in the last shards.
func (b *Batch) Shards(n int) ([]Batch, error) {
	if n < 1 {
		return nil, errors.Errorf("batch: %d shards, need at least 1", n)
	}
	if b.Size%n != 0 {
		return nil, errors.Errorf("batch: size %d does not split into %d equal shards", b.Size, n)
	}
	rows, row := b.Size/n, b.rowLen()
	out := make([]Batch, n)
	for k := range out {
		lo, hi := k*rows, (k+1)*rows
		s := *b
		s.Size = rows
		s.Valid = min(max(b.Valid-lo, 0), rows)
		if b.Images != nil {
			s.Images = b.Images[lo*row : hi*row : hi*row]
		}
		if b.ImagesBF16 != nil {
			s.ImagesBF16 = b.ImagesBF16[lo*row : hi*row : hi*row]
		}
		s.Labels = b.Labels[lo:hi:hi]
		vlo, vhi := min(lo, b.Valid), min(hi, b.Valid)
		s.Indices = b.Indices[vlo:vhi:vhi]
		s.IDs = b.IDs[vlo:vhi:vhi]
		out[k] = s
	}
	return out, nil
}

// BFloat16 returns the bfloat16 bits of f, rounded to nearest, ties to even;
// see augment.BFloat16 (the pipeline converts inside the augmentation pass).
func BFloat16(f float32) uint16 { return augment.BFloat16(f) }

// ToBFloat16 converts src into dst (at least as long) with BFloat16.
func ToBFloat16(dst []uint16, src []float32) { augment.ToBFloat16(dst, src) }

// FromBFloat16 widens bfloat16 bits to float32 (exact).
func FromBFloat16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }
