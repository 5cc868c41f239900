package data

import (
	"encoding/csv"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// tinySynthetic is a small, fast synthetic set for the file-layout tests.
func tinySynthetic(t *testing.T, counts ...int) Dataset {
	t.Helper()
	if counts == nil {
		counts = []int{2, 3, 2, 4, 3}
	}
	ds, err := Synthetic(SyntheticOptions{Seed: 7, Counts: counts, Width: 40, Height: 30})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// meanAbsDiff is the mean absolute difference of the RGB channels (0-255) of two same-size images.
func meanAbsDiff(t *testing.T, a, b image.Image) float64 {
	t.Helper()
	if a.Bounds().Size() != b.Bounds().Size() {
		t.Fatalf("sizes differ: %v vs %v", a.Bounds(), b.Bounds())
	}
	var sum float64
	ab, bb := a.Bounds(), b.Bounds()
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			r1, g1, b1, _ := a.At(ab.Min.X+x, ab.Min.Y+y).RGBA()
			r2, g2, b2, _ := b.At(bb.Min.X+x, bb.Min.Y+y).RGBA()
			for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
				sum += float64(max(d, -d))
			}
		}
	}
	return sum / float64(3*ab.Dx()*ab.Dy())
}

// sameContent checks that got has want's ids, labels and classes and (JPEG-close) images, matched by id.
func sameContent(t *testing.T, want, got Dataset) {
	t.Helper()
	if got.Len() != want.Len() {
		t.Fatalf("Len %d, want %d", got.Len(), want.Len())
	}
	if !reflect.DeepEqual(got.Classes(), want.Classes()) {
		t.Errorf("Classes %q, want %q", got.Classes(), want.Classes())
	}
	byID := map[string]int{}
	for i := 0; i < got.Len(); i++ {
		byID[got.ID(i)] = i
	}
	for i := 0; i < want.Len(); i++ {
		j, ok := byID[fileName(want.ID(i))]
		if !ok {
			t.Fatalf("id %s missing", want.ID(i))
		}
		if got.Label(j) != want.Label(i) {
			t.Errorf("%s: label %d, want %d", want.ID(i), got.Label(j), want.Label(i))
		}
		a, err := want.Image(i)
		if err != nil {
			t.Fatal(err)
		}
		b, err := got.Image(j)
		if err != nil {
			t.Fatal(err)
		}
		// 8 levels allow for JPEG loss on these tiny, noisy images; two different images of the
		// set differ by more (checked below, so the bound can tell images apart).
		const tol = 8
		if d := meanAbsDiff(t, a, b); d > tol {
			t.Errorf("%s: image differs by %.2f per channel after a JPEG round trip", want.ID(i), d)
		}
		if i == 1 {
			other, _ := want.Image(0)
			if d := meanAbsDiff(t, other, b); d <= tol {
				t.Errorf("images 0 and 1 differ by only %.2f: the tolerance cannot tell images apart", d)
			}
		}
	}
}

func TestKaggleRoundTripAndOpen(t *testing.T) {
	src := tinySynthetic(t)
	dir := t.TempDir()
	if err := WriteKaggle(src, dir); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameContent(t, src, ds)
	if got, want := ClassCounts(ds), []int{2, 3, 2, 4, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("ClassCounts %v, want %v", got, want)
	}
	if s := ds.(Skipper).Skipped(); len(s) != 0 {
		t.Errorf("skips on good data: %v", s)
	}
}

func TestReadLabelMapKaggleNames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, KaggleLabelMap)
	// Kaggle's file, verbatim.
	kaggle := `{"0": "Cassava Bacterial Blight (CBB)", "1": "Cassava Brown Streak Disease (CBSD)", "2": "Cassava Green Mottle (CGM)", "3": "Cassava Mosaic Disease (CMD)", "4": "Healthy"}`
	if err := os.WriteFile(path, []byte(kaggle), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLabelMap(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, CassavaClasses) {
		t.Errorf("names %q, want %q", got, CassavaClasses)
	}
	for _, bad := range []string{`[1,2]`, `{"0": "a", "2": "b"}`, `{"x": "a"}`, `{"0": ""}`} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadLabelMap(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("label map %s: error %v should name the file", bad, err)
		}
	}
}

func TestKaggleClassNamesFromData(t *testing.T) {
	write := func(dir, csv string, files ...string) {
		if err := os.MkdirAll(filepath.Join(dir, KaggleImages), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, KaggleCSV), []byte(csv), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, KaggleImages, f), jpegBytes(t, quadrantImage()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Three classes, no label map: names "0".."2".
	dir := t.TempDir()
	write(dir, "image_id,label\na.jpg,0\nb.jpg,2\nc.jpg,1\n", "a.jpg", "b.jpg", "c.jpg")
	ds, err := OpenKaggle(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0", "1", "2"}; !reflect.DeepEqual(ds.Classes(), want) {
		t.Errorf("classes %q, want %q", ds.Classes(), want)
	}
	// Five classes, no label map: the Cassava names.
	dir = t.TempDir()
	write(dir, "image_id,label\na.jpg,0\nb.jpg,1\nc.jpg,2\nd.jpg,3\ne.jpg,4\n", "a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg")
	if ds, err = OpenKaggle(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ds.Classes(), CassavaClasses) {
		t.Errorf("classes %q, want %q", ds.Classes(), CassavaClasses)
	}
}

// kaggleFixture writes a 3-image Kaggle layout with a 3-class label map, then applies edit to the CSV
// text and the files.
func kaggleFixture(t *testing.T, csv string, edit func(dir string)) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, KaggleImages), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a.jpg", "b.jpg", "c.jpg", "d.jpg"} {
		if err := os.WriteFile(filepath.Join(dir, KaggleImages, f), jpegBytes(t, quadrantImage()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, KaggleCSV), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeLabelMap(filepath.Join(dir, KaggleLabelMap), []string{"x", "y", "z"}); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(dir)
	}
	return dir
}

func TestKaggleBadInput(t *testing.T) {
	const good = "image_id,label\na.jpg,0\nb.jpg,1\nc.jpg,2\n"
	cases := []struct {
		name     string
		csv      string
		edit     func(dir string)
		want     string // in the strict error
		where    string // file:line named
		skipped  int    // with SkipBad
		leftOver int    // images left with SkipBad (-1: still an error)
	}{
		{"bad header", "id,lab\na.jpg,0\n", nil, "bad header", "train.csv", 0, -1},
		{"empty csv", "", nil, "empty file", "train.csv", 0, -1},
		{"short row", good + "d.jpg\n", nil, "1 fields, the header has 2", "train.csv:5", 1, 3},
		{"bad label", good + "d.jpg,two\n", nil, `label "two" is not an integer`, "train.csv:5", 1, 3},
		{"negative label", good + "d.jpg,-1\n", nil, "label -1 is negative", "train.csv:5", 1, 3},
		{"label out of range", good + "d.jpg,3\n", nil, "label 3 out of range [0, 3)", "train.csv:5", 1, 3},
		{"duplicate id", good + "a.jpg,1\n", nil, `duplicate image_id "a.jpg" (first at line 2)`, "train.csv:5", 1, 3},
		{"path id", good + "../d.jpg,1\n", nil, "is a path", "train.csv:5", 1, 3},
		{"missing file", good + "e.jpg,1\n", nil, "no such file", "train.csv:5", 1, 3},
		{"zero-byte file", good + "d.jpg,1\n", func(dir string) {
			_ = os.WriteFile(filepath.Join(dir, KaggleImages, "d.jpg"), nil, 0o644)
		}, "empty (zero bytes)", "train.csv:5", 1, 3},
		{"malformed csv", good + "\"d.jpg,1\n", nil, "malformed CSV", "train.csv:5", 1, 3},
		{"empty class", "image_id,label\na.jpg,0\nb.jpg,0\nc.jpg,2\n", nil, `class(es) ["y"] have no images`, "train.csv", 0, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := kaggleFixture(t, c.csv, c.edit)
			_, err := OpenKaggle(dir, Options{})
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.where) {
				t.Errorf("error %q should say %q and name %q", err, c.want, c.where)
			}
			var logged []string
			ds, err := OpenKaggle(dir, Options{SkipBad: true, Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }})
			if c.leftOver < 0 {
				if err == nil {
					t.Errorf("SkipBad: no error, want %q", c.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("SkipBad: %v", err)
			}
			if ds.Len() != c.leftOver {
				t.Errorf("SkipBad: %d images, want %d", ds.Len(), c.leftOver)
			}
			skips := ds.(Skipper).Skipped()
			if len(skips) != c.skipped || len(logged) != c.skipped {
				t.Fatalf("SkipBad: skipped %v, logged %q, want %d", skips, logged, c.skipped)
			}
			if !strings.Contains(skips[0].String(), c.want) || !strings.Contains(logged[0], c.where) {
				t.Errorf("skip %q / log %q should say %q and name %q", skips[0], logged[0], c.want, c.where)
			}
		})
	}
	// An empty class is accepted when asked.
	dir := kaggleFixture(t, "image_id,label\na.jpg,0\nb.jpg,0\nc.jpg,2\n", nil)
	if ds, err := OpenKaggle(dir, Options{AllowEmptyClasses: true}); err != nil || !reflect.DeepEqual(ClassCounts(ds), []int{2, 0, 1}) {
		t.Errorf("AllowEmptyClasses: err %v", err)
	}
}

func TestKaggleVerifyFindsCorruptImages(t *testing.T) {
	corrupt := func(dir string) {
		b := jpegBytes(t, quadrantImage())
		_ = os.WriteFile(filepath.Join(dir, KaggleImages, "b.jpg"), b[:len(b)/2], 0o644)
	}
	dir := kaggleFixture(t, "image_id,label\na.jpg,0\nb.jpg,1\nc.jpg,2\nd.jpg,1\n", corrupt)
	ds, err := OpenKaggle(dir, Options{})
	if err != nil {
		t.Fatalf("without Verify, opening checks files exist only: %v", err)
	}
	if _, err := ds.Image(1); err == nil || !strings.Contains(err.Error(), "b.jpg") {
		t.Errorf("decoding the truncated image: error %v should name b.jpg", err)
	}
	if _, err := OpenKaggle(dir, Options{Verify: true}); err == nil || !strings.Contains(err.Error(), "b.jpg") {
		t.Errorf("Verify: error %v should name b.jpg", err)
	}
	ds, err = OpenKaggle(dir, Options{Verify: true, SkipBad: true, Logf: func(string, ...any) {}})
	if err != nil || ds.Len() != 3 || len(ds.(Skipper).Skipped()) != 1 {
		t.Errorf("Verify+SkipBad: err %v, want 3 images and 1 skip", err)
	}
}

func TestOpenDetectsLayouts(t *testing.T) {
	src := tinySynthetic(t)
	root := t.TempDir()
	kaggleDir, folderDir, tfDir := filepath.Join(root, "kaggle"), filepath.Join(root, "folder"), filepath.Join(root, "tf")
	if err := WriteKaggle(src, kaggleDir); err != nil {
		t.Fatal(err)
	}
	if err := WriteFolder(src, folderDir); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteTFRecords(src, tfDir, "ld_train", 2, nil); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{kaggleDir, folderDir, tfDir} {
		ds, err := Open(dir)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		sameContent(t, src, ds)
	}
	// Images alone: unlabelled, for prediction.
	ds, err := OpenWith(filepath.Join(kaggleDir, KaggleImages), Options{Classes: CassavaClasses})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != src.Len() || ds.Label(0) != -1 || len(ds.Classes()) != 5 {
		t.Errorf("unlabelled folder: %d images, label %d, %d classes", ds.Len(), ds.Label(0), len(ds.Classes()))
	}
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no known layout") {
		t.Errorf("empty dir: error %v", err)
	}
	if _, err := Open(filepath.Join(root, "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing dir: error %v", err)
	}
}

func TestFolderLayout(t *testing.T) {
	src := tinySynthetic(t)
	dir := t.TempDir()
	if err := WriteFolder(src, dir); err != nil {
		t.Fatal(err)
	}
	// Classes are the sorted directory names, whatever order they were written in.
	ds, err := OpenFolder(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"CBB", "CBSD", "CGM", "CMD", "Healthy"}; !reflect.DeepEqual(ds.Classes(), want) {
		t.Errorf("classes %q", ds.Classes())
	}
	sameContent(t, src, ds)
	// An empty class directory is an error unless allowed; stray files are ignored.
	if err := os.Mkdir(filepath.Join(dir, "Zebra"), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "README.txt"), []byte("hi"), 0o644)
	if _, err := OpenFolder(dir, Options{}); err == nil || !strings.Contains(err.Error(), "Zebra") {
		t.Errorf("empty class dir: error %v should name Zebra", err)
	}
	ds, err = OpenFolder(dir, Options{AllowEmptyClasses: true})
	if err != nil || len(ds.Classes()) != 6 || ds.Classes()[5] != "Zebra" {
		t.Errorf("AllowEmptyClasses: %v", err)
	}
}

// TestCassavaSample reads the real Kaggle sample in ../shared when present.
func TestCassavaSample(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "data", "cassava-sample")
	if _, err := os.Stat(filepath.Join(dir, KaggleCSV)); err != nil {
		t.Skipf("no Cassava sample at %s", dir)
	}
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ds.Classes(), CassavaClasses) || ds.Len() == 0 {
		t.Fatalf("classes %q, %d images", ds.Classes(), ds.Len())
	}
	for i := 0; i < ds.Len(); i++ {
		img, err := ds.Image(i)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := img.(*image.YCbCr); !ok || img.Bounds().Dx() != 800 || img.Bounds().Dy() != 600 {
			t.Errorf("%s: %T %v, want an 800x600 *image.YCbCr", ds.ID(i), img, img.Bounds())
		}
	}
	// The full label list gives the class counts of the Kaggle set that CassavaCounts records.
	f, err := os.Open(filepath.Join(dir, "kaggle2020_full_labels.csv"))
	if err != nil {
		return
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, len(CassavaClasses))
	for _, row := range rows[1:] {
		l, err := strconv.Atoi(row[1])
		if err != nil {
			t.Fatal(err)
		}
		counts[l]++
	}
	if !reflect.DeepEqual(counts, CassavaCounts) {
		t.Errorf("full label list counts %v, CassavaCounts %v", counts, CassavaCounts)
	}
}

func TestOpenKaggleTest(t *testing.T) {
	dir := t.TempDir()
	src := tinySynthetic(t)
	if err := WriteKaggle(src, dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, KaggleImages), filepath.Join(dir, KaggleTestDir)); err != nil {
		t.Fatal(err)
	}
	ds, err := OpenKaggleTest(dir, CassavaClasses, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != src.Len() || ds.Label(3) != -1 || !reflect.DeepEqual(ds.Classes(), CassavaClasses) {
		t.Errorf("%d images, label %d, classes %q", ds.Len(), ds.Label(3), ds.Classes())
	}
}

// FuzzKaggleCSV: any train.csv gives a dataset or an error naming the file, never a panic; with
// SkipBad, every row is either loaded or skipped with a reason.
func FuzzKaggleCSV(f *testing.F) {
	f.Add("image_id,label\na.jpg,0\nb.jpg,1\n")
	f.Add("label,image_id,extra\n1,a.jpg,x\n")
	f.Add("image_id,label\n\"a.jpg,0\n")
	f.Add("image_id,label\na.jpg,99999999999\n../b.jpg,1\na.jpg,0\n")
	f.Add("\ufeffimage_id,label\r\nb.jpg,1\r\n")
	f.Fuzz(func(t *testing.T, csvText string) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, KaggleImages), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"a.jpg", "b.jpg"} {
			if err := os.WriteFile(filepath.Join(dir, KaggleImages, name), []byte{0xff, 0xd8, 0xff}, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(dir, KaggleCSV)
		if err := os.WriteFile(path, []byte(csvText), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, skip := range []bool{false, true} {
			ds, err := OpenKaggle(dir, Options{SkipBad: skip, Logf: func(string, ...any) {}, AllowEmptyClasses: true})
			if err != nil {
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name %s", err, path)
				}
				continue
			}
			for i := 0; i < ds.Len(); i++ {
				if l := ds.Label(i); l < 0 || l >= len(ds.Classes()) {
					t.Errorf("label %d outside the %d classes", l, len(ds.Classes()))
				}
			}
		}
	})
}
