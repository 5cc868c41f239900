package data

import (
	"encoding/csv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/pkg/errors"
)

// byClass groups ds's indices by label; an unlabelled image is an error (splits need labels).
func byClass(ds Dataset, what string) ([][]int, error) {
	groups := make([][]int, len(ds.Classes()))
	for i := 0; i < ds.Len(); i++ {
		l := ds.Label(i)
		if l < 0 || l >= len(groups) {
			return nil, errors.Errorf("%s: image %s has label %d, not a class of %q", what, ds.ID(i), l, ds.Classes())
		}
		groups[l] = append(groups[l], i)
	}
	return groups, nil
}

// StratifiedSplit splits ds's indices into train and validation sets, sending round(valFraction*n) of
// each class's n images to validation, but keeping at least one image of a class with two or more in
// each side. Deterministic from seed; both results are sorted.
func StratifiedSplit(ds Dataset, valFraction float64, seed uint64) (train, val []int, err error) {
	if !(valFraction > 0 && valFraction < 1) {
		return nil, nil, errors.Errorf("StratifiedSplit: validation fraction %v, must be in (0, 1)", valFraction)
	}
	groups, err := byClass(ds, "StratifiedSplit")
	if err != nil {
		return nil, nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x5b117))
	for _, idx := range groups {
		idx = append([]int(nil), idx...)
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		nv := int(math.Round(valFraction * float64(len(idx))))
		if len(idx) >= 2 {
			nv = min(max(nv, 1), len(idx)-1)
		} else {
			nv = 0
		}
		val = append(val, idx[:nv]...)
		train = append(train, idx[nv:]...)
	}
	sort.Ints(train)
	sort.Ints(val)
	return train, val, nil
}

// KFold assigns each image of ds a fold in [0, k), stratified: each class's images are shuffled and
// dealt over the folds in turn, continuing where the previous class stopped, so every fold has each
// class's share (±1) and the fold sizes differ by at most one. Deterministic from seed.
func KFold(ds Dataset, k int, seed uint64) ([]int, error) {
	if k < 2 || k > ds.Len() {
		return nil, errors.Errorf("KFold: k=%d, must be in [2, %d] (the number of images)", k, ds.Len())
	}
	groups, err := byClass(ds, "KFold")
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0xf01d))
	folds := make([]int, ds.Len())
	next := 0
	for _, idx := range groups {
		idx = append([]int(nil), idx...)
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for _, i := range idx {
			folds[i] = next
			next = (next + 1) % k
		}
	}
	return folds, nil
}

// FoldSplit returns the indices outside fold f (train) and in it (validation), sorted.
func FoldSplit(folds []int, f int) (train, val []int) {
	for i, fi := range folds {
		if fi == f {
			val = append(val, i)
		} else {
			train = append(train, i)
		}
	}
	return train, val
}

// WriteFolds writes the fold of each image of ds as CSV image_id,label,fold (the format of the
// article's fold files), so a split can be reproduced and shared.
func WriteFolds(path string, ds Dataset, folds []int) error {
	if len(folds) != ds.Len() {
		return errors.Errorf("WriteFolds: %d folds for %d images", len(folds), ds.Len())
	}
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	_ = w.Write([]string{"image_id", "label", "fold"})
	for i := 0; i < ds.Len(); i++ {
		_ = w.Write([]string{ds.ID(i), strconv.Itoa(ds.Label(i)), strconv.Itoa(folds[i])})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return errors.Wrap(err, "WriteFolds")
	}
	return errors.Wrapf(os.WriteFile(path, []byte(sb.String()), 0o644), "WriteFolds %s", path)
}

// ReadFolds reads a fold file written by WriteFolds and returns the fold of each image of ds. Every
// image of ds must be listed once with its label (so a fold file of other data, or of other labels, is
// refused); errors name the file and line.
func ReadFolds(path string, ds Dataset) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.Errorf("folds %s: %v", path, unwrapPathError(err))
	}
	defer f.Close()
	r := newCSVReader(f)
	r.FieldsPerRecord = 3
	header, err := r.Read()
	if err != nil || strings.Join(header, ",") != "image_id,label,fold" {
		return nil, errors.Errorf("folds %s: bad header %q (%v), expected image_id,label,fold", path, header, err)
	}
	index := make(map[string]int, ds.Len())
	for i := 0; i < ds.Len(); i++ {
		index[ds.ID(i)] = i
	}
	folds := make([]int, ds.Len())
	for i := range folds {
		folds[i] = -1
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errors.Errorf("folds %s: %v", path, err)
		}
		line, _ := r.FieldPos(0)
		where := path + ":" + strconv.Itoa(line)
		i, ok := index[rec[0]]
		if !ok {
			return nil, errors.Errorf("%s: image_id %q is not in the dataset", where, rec[0])
		}
		label, err1 := strconv.Atoi(rec[1])
		fold, err2 := strconv.Atoi(rec[2])
		switch {
		case err1 != nil || err2 != nil || fold < 0:
			return nil, errors.Errorf("%s: label %q / fold %q must be integers, fold >= 0", where, rec[1], rec[2])
		case label != ds.Label(i):
			return nil, errors.Errorf("%s: image %s has label %d in the fold file but %d in the dataset", where, rec[0], label, ds.Label(i))
		case folds[i] >= 0:
			return nil, errors.Errorf("%s: duplicate image_id %q", where, rec[0])
		}
		folds[i] = fold
	}
	for i, fi := range folds {
		if fi < 0 {
			return nil, errors.Errorf("folds %s: image %s of the dataset is not listed", path, ds.ID(i))
		}
	}
	return folds, nil
}
