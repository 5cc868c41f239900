// Package data holds the image datasets supcon trains on: the Kaggle Cassava layouts (CSV + images,
// TFRecords), folder-per-class trees, Fashion-MNIST IDX files and a built-in synthetic leaf set, plus
// content-sniffing image decoding, stratified splits / k-folds and epoch samplers.
//
// The package is pure Go and knows nothing of graphs: the batching pipeline and augmentation build on
// the Dataset interface defined here.
package data

import (
	"image"
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
