package data

import (
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// labelsOnly is a dataset of labels without images, for split and sampler tests.
type labelsOnly struct {
	labels  []int
	classes []string
}

func (d *labelsOnly) Len() int          { return len(d.labels) }
func (d *labelsOnly) ID(i int) string   { return "img" + strconv.Itoa(i) }
func (d *labelsOnly) Label(i int) int   { return d.labels[i] }
func (d *labelsOnly) Classes() []string { return d.classes }
func (d *labelsOnly) Image(i int) (image.Image, error) {
	return nil, fmt.Errorf("labelsOnly has no images (image %d)", i)
}

// cassavaLabels returns a labels-only dataset with Cassava's class counts scaled to total.
func cassavaLabels(t *testing.T, total int) *labelsOnly {
	t.Helper()
	counts, err := ScaleCounts(CassavaCounts, total)
	if err != nil {
		t.Fatal(err)
	}
	d := &labelsOnly{classes: CassavaClasses}
	for c, n := range counts {
		for range n {
			d.labels = append(d.labels, c)
		}
	}
	return d
}

func TestStratifiedSplit(t *testing.T) {
	ds := cassavaLabels(t, 1000)
	train, val, err := StratifiedSplit(ds, 0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]int, ds.Len())
	for _, i := range append(append([]int(nil), train...), val...) {
		seen[i]++
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("image %d is in %d of train/val, want exactly 1", i, n)
		}
	}
	all := ClassCounts(ds)
	vc := ClassCounts(Subset(ds, val))
	for c := range all {
		if want := int(math.Round(0.2 * float64(all[c]))); vc[c] != want {
			t.Errorf("class %s: %d of %d in validation, want %d", ds.classes[c], vc[c], all[c], want)
		}
	}
	train2, val2, _ := StratifiedSplit(ds, 0.2, 1)
	if !reflect.DeepEqual(train, train2) || !reflect.DeepEqual(val, val2) {
		t.Error("same seed, different split")
	}
	if _, val3, _ := StratifiedSplit(ds, 0.2, 2); reflect.DeepEqual(val, val3) {
		t.Error("another seed, same split")
	}
	// Tiny classes keep one image on each side; single-image classes stay in train.
	tiny := &labelsOnly{labels: []int{0, 1, 1, 2, 2, 2}, classes: []string{"a", "b", "c"}}
	_, val, _ = StratifiedSplit(tiny, 0.01, 3)
	if got := ClassCounts(Subset(tiny, val)); !reflect.DeepEqual(got, []int{0, 1, 1}) {
		t.Errorf("tiny classes: validation counts %v, want [0 1 1]", got)
	}
	for _, f := range []float64{0, 1, -0.5, math.NaN()} {
		if _, _, err := StratifiedSplit(ds, f, 1); err == nil {
			t.Errorf("fraction %v accepted", f)
		}
	}
	unl := &labelsOnly{labels: []int{0, -1}, classes: []string{"a"}}
	if _, _, err := StratifiedSplit(unl, 0.5, 1); err == nil || !strings.Contains(err.Error(), "img1") {
		t.Errorf("unlabelled image: %v", err)
	}
}

func TestKFoldAndFoldFiles(t *testing.T) {
	ds := cassavaLabels(t, 997)
	const k = 5
	folds, err := KFold(ds, k, 42)
	if err != nil {
		t.Fatal(err)
	}
	sizes := make([]int, k)
	perClass := make([][]int, k)
	for f := range perClass {
		perClass[f] = make([]int, len(ds.classes))
	}
	for i, f := range folds {
		sizes[f]++
		perClass[f][ds.Label(i)]++
	}
	all := ClassCounts(ds)
	for f := 0; f < k; f++ {
		if sizes[f] < ds.Len()/k || sizes[f] > ds.Len()/k+1 {
			t.Errorf("fold %d has %d images, want %d or %d", f, sizes[f], ds.Len()/k, ds.Len()/k+1)
		}
		for c := range all {
			if lo := all[c] / k; perClass[f][c] < lo || perClass[f][c] > lo+1 {
				t.Errorf("fold %d has %d of class %s's %d images, want %d or %d", f, perClass[f][c], ds.classes[c], all[c], lo, lo+1)
			}
		}
	}
	train, val := FoldSplit(folds, 2)
	if len(train)+len(val) != ds.Len() || len(val) != sizes[2] {
		t.Errorf("FoldSplit: %d + %d", len(train), len(val))
	}
	again, _ := KFold(ds, k, 42)
	if !reflect.DeepEqual(folds, again) {
		t.Error("same seed, different folds")
	}

	path := filepath.Join(t.TempDir(), "folds.csv")
	if err := WriteFolds(path, ds, folds); err != nil {
		t.Fatal(err)
	}
	read, err := ReadFolds(path, ds)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(read, folds) {
		t.Error("ReadFolds(WriteFolds(folds)) != folds")
	}
	// Fold files of other data or labels are refused, naming the line.
	good, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(good)), "\n")
	for _, c := range []struct{ name, text, want string }{
		{"label changed", strings.Replace(string(good), "img0,0,", "img0,1,", 1), "label 1 in the fold file but 0"},
		{"image missing", strings.Join(lines[:len(lines)-1], "\n"), "is not listed"},
		{"unknown image", string(good) + "other,0,1\n", `"other" is not in the dataset`},
		{"duplicate", string(good) + lines[1] + "\n", "duplicate image_id"},
		{"bad header", "id,label,fold\n", "bad header"},
		{"bad fold", strings.Replace(string(good), "img0,0,", "img0,0,x", 1), "must be integers"},
	} {
		if err := os.WriteFile(path, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadFolds(path, ds); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v should say %q and name the file", c.name, err, c.want)
		}
	}
	if _, err := KFold(ds, 1, 0); err == nil {
		t.Error("k=1 accepted")
	}
}
