package data

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/pkg/errors"
)

// Inspect prints what training will see of ds: the class counts of the data, the class counts of one
// epoch of sampler (epoch 0: after oversampling / balancing), and the class histogram of each of the
// first nBatches batches of batchSize, with their total.
func Inspect(w io.Writer, ds Dataset, sampler Sampler, batchSize, nBatches int) error {
	if batchSize < 1 {
		return errors.Errorf("Inspect: batch size %d, must be >= 1", batchSize)
	}
	classes := ds.Classes()
	k := len(classes)
	before := ClassCounts(ds)
	order := sampler.Epoch(0)
	after := histogram(ds, order, k)
	unlabelled := ds.Len() - sum(before)
	fmt.Fprintf(w, "dataset: %d images, %d classes", ds.Len(), k)
	if unlabelled > 0 {
		fmt.Fprintf(w, ", %d unlabelled", unlabelled)
	}
	fmt.Fprintf(w, "\nsampler %q: %d images per epoch (%d batches of %d)\n", sampler.Kind(), len(order), (len(order)+batchSize-1)/batchSize, batchSize)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "class\tdata\t%%\tepoch\t%%\t\n")
	for c := 0; c < k; c++ {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\t%.1f\t\n", classes[c], before[c], pct(before[c], sum(before)), after[c], pct(after[c], sum(after)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	nBatches = min(nBatches, (len(order)+batchSize-1)/batchSize)
	if nBatches <= 0 {
		return nil
	}
	fmt.Fprintf(w, "first %d batches, images per class:\n", nBatches)
	tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "batch\t%s\t\n", strings.Join(classes, "\t"))
	total := make([]int, k)
	for b := 0; b < nBatches; b++ {
		h := histogram(ds, order[b*batchSize:min(len(order), (b+1)*batchSize)], k)
		fmt.Fprintf(tw, "%d\t%s\t\n", b, joinInts(h))
		for c := range h {
			total[c] += h[c]
		}
	}
	fmt.Fprintf(tw, "total\t%s\t\n", joinInts(total))
	return tw.Flush()
}

// histogram counts the labels of the images indices of ds (unlabelled ones not counted).
func histogram(ds Dataset, indices []int, k int) []int {
	h := make([]int, k)
	for _, i := range indices {
		if l := ds.Label(i); l >= 0 && l < k {
			h[l]++
		}
	}
	return h
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

func pct(n, total int) float64 {
	if total == 0 {
		return 0
	}
	return 100 * float64(n) / float64(total)
}

func joinInts(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, "\t")
}

// SaveGrid writes imgs as one PNG at path, cols per row, each in a cell the size of the largest image
// (top-left aligned), separated by 2 white pixels: for looking at samples and augmentations by eye.
func SaveGrid(path string, imgs []image.Image, cols int) error {
	if len(imgs) == 0 {
		return errors.New("SaveGrid: no images")
	}
	if cols < 1 {
		return errors.Errorf("SaveGrid: cols=%d, must be >= 1", cols)
	}
	const gap = 2
	cw, ch := 0, 0
	for i, img := range imgs {
		if img == nil {
			return errors.Errorf("SaveGrid: image %d is nil", i)
		}
		cw, ch = max(cw, img.Bounds().Dx()), max(ch, img.Bounds().Dy())
	}
	cols = min(cols, len(imgs))
	rows := (len(imgs) + cols - 1) / cols
	if int64(cols*(cw+gap)+gap)*int64(rows*(ch+gap)+gap) > int64(MaxPixels) {
		return errors.Errorf("SaveGrid: a %dx%d grid of %dx%d cells is over data.MaxPixels", cols, rows, cw, ch)
	}
	grid := image.NewRGBA(image.Rect(0, 0, cols*(cw+gap)+gap, rows*(ch+gap)+gap))
	draw.Draw(grid, grid.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	for i, img := range imgs {
		x, y := gap+(i%cols)*(cw+gap), gap+(i/cols)*(ch+gap)
		b := img.Bounds()
		draw.Draw(grid, image.Rect(x, y, x+b.Dx(), y+b.Dy()), img, b.Min, draw.Src)
	}
	f, err := os.Create(path)
	if err != nil {
		return errors.Wrap(err, "SaveGrid")
	}
	if err := png.Encode(f, grid); err != nil {
		f.Close()
		return errors.Wrapf(err, "SaveGrid: writing %s", path)
	}
	return errors.Wrapf(f.Close(), "SaveGrid: writing %s", path)
}
