// Package data holds the image datasets supcon trains on: the Kaggle Cassava layouts (CSV + images,
// TFRecords), folder-per-class trees, Fashion-MNIST IDX files and a built-in synthetic leaf set, plus
// content-sniffing image decoding, stratified splits / k-folds and epoch samplers.
//
// The package is pure Go and knows nothing of graphs: the batching pipeline and augmentation build on
// the Dataset interface defined here.
package data

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"log"

	"github.com/pkg/errors"
)

// Dataset is an indexed, labelled image collection. Implementations are safe for concurrent use.
type Dataset interface {
	Len() int
	ID(i int) string                  // image id / file name, for error messages and predictions
	Label(i int) int                  // class index in [0, NumClasses()), or -1 when unlabelled (test set)
	Classes() []string                // class names, from the data (Fashion-MNIST has 10, Cassava 5)
	Image(i int) (image.Image, error) // decoded image; errors name the file/record
}

// NumClasses is len(ds.Classes()); spelled out because the interface documentation refers to it.
func NumClasses(ds Dataset) int { return len(ds.Classes()) }

// ClassCounts returns how many images of each class ds holds (indexed by class). Unlabelled images
// (label -1) and labels outside [0, NumClasses) are not counted.
func ClassCounts(ds Dataset) []int {
	counts := make([]int, len(ds.Classes()))
	for i := 0; i < ds.Len(); i++ {
		if l := ds.Label(i); l >= 0 && l < len(counts) {
			counts[l]++
		}
	}
	return counts
}

// RawImager is implemented by datasets that can hand out an image's original encoded bytes (the JPEG
// file, the TFRecord's image feature), so that writers (WriteTFRecords) store them without re-encoding.
type RawImager interface {
	RawImage(i int) ([]byte, error)
}

// Options controls how a dataset on disk is opened. The zero value is strict: any bad input is an error.
type Options struct {
	// SkipBad skips bad input (a bad CSV row, a label out of range, a duplicate id, a missing or empty
	// image file, a TFRecord record with a bad CRC or a truncated tail) instead of failing: each skip is
	// logged through Logf and recorded in the dataset's Skipped().
	SkipBad bool
	// Logf receives one line per skipped input; nil means log.Printf.
	Logf func(format string, args ...any)
	// AllowEmptyClasses accepts a declared class (in the class-name map, or below the largest label)
	// that has no image; by default that is an error, as a class nothing can be learned from usually
	// means the wrong file or a broken label column.
	AllowEmptyClasses bool
	// Classes overrides the class names; its length fixes the number of classes (labels must be below it).
	Classes []string
	// Verify fully decodes every image when opening (in parallel), so corrupt or truncated images are
	// found (and with SkipBad, skipped) up front rather than in the middle of training. Slow on big sets.
	Verify bool
}

// Skip records one piece of bad input that was skipped because of Options.SkipBad.
type Skip struct {
	Where  string // file, "file:row" or "file: record N"
	Reason string
}

func (s Skip) String() string { return s.Where + ": " + s.Reason }

// Skipper is implemented by the datasets opened with Options (CSV, folder, unlabelled folder, TFRecord):
// the inputs skipped under Options.SkipBad.
type Skipper interface {
	Skipped() []Skip
}

// skipLog collects skips, shared by the on-disk datasets.
type skipLog struct {
	skips []Skip
}

func (l *skipLog) Skipped() []Skip { return append([]Skip(nil), l.skips...) }

// bad handles one bad input: with SkipBad it is logged and recorded and bad returns nil, otherwise
// it returns the error "where: reason".
func (l *skipLog) bad(opts *Options, where, format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	if !opts.SkipBad {
		return errors.Errorf("%s: %s", where, reason)
	}
	l.skips = append(l.skips, Skip{Where: where, Reason: reason})
	logf := opts.Logf
	if logf == nil {
		logf = log.Printf
	}
	logf("data: skipping %s: %s", where, reason)
	return nil
}

// subset is the view returned by Subset.
type subset struct {
	ds      Dataset
	indices []int
}

// Subset returns the view of ds holding ds's images indices[0], indices[1], ... (repeats allowed).
// It panics on an index out of range, as that is a programming error, not bad user data.
func Subset(ds Dataset, indices []int) Dataset {
	for _, i := range indices {
		if i < 0 || i >= ds.Len() {
			panic(fmt.Sprintf("data.Subset: index %d out of range [0, %d)", i, ds.Len()))
		}
	}
	return &subset{ds: ds, indices: append([]int(nil), indices...)}
}

func (s *subset) Len() int                         { return len(s.indices) }
func (s *subset) ID(i int) string                  { return s.ds.ID(s.indices[i]) }
func (s *subset) Label(i int) int                  { return s.ds.Label(s.indices[i]) }
func (s *subset) Classes() []string                { return s.ds.Classes() }
func (s *subset) Image(i int) (image.Image, error) { return s.ds.Image(s.indices[i]) }

// RawImage forwards to the underlying dataset, encoding to JPEG when that has no raw bytes.
func (s *subset) RawImage(i int) ([]byte, error) { return EncodedImage(s.ds, s.indices[i]) }

// EncodedImage returns image i of ds encoded: the original bytes when ds is a RawImager, else a
// JPEG (quality 95) of the decoded image.
func EncodedImage(ds Dataset, i int) ([]byte, error) {
	if r, ok := ds.(RawImager); ok {
		return r.RawImage(i)
	}
	img, err := ds.Image(i)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		return nil, errors.Wrapf(err, "encoding image %s as JPEG", ds.ID(i))
	}
	return buf.Bytes(), nil
}
