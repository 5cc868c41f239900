package data

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/supcon-go/supcon/data/augment"
)

// The tests in this file feed the pipeline what real users' files look like rather than what our
// writers produce: spreadsheet-exported CSVs, mixed-case file names, tiny images, one-class data sets
// and batches larger than the data.

// TestKaggleCSVFromASpreadsheet: a CSV saved by Excel on Windows has a UTF-8 BOM, quoted fields,
// CRLF line ends and trailing blank lines; ids may carry upper-case extensions and labels spaces.
func TestKaggleCSVFromASpreadsheet(t *testing.T) {
	const text = "\ufeff\"image_id\",\"label\",\"source\"\r\n" +
		"\"A.JPG\", 1 ,x\r\n" +
		"b.jpeg,0,\"y, z\"\r\n" +
		"c.Png,2,\r\n" +
		"\r\n\r\n"
	dir := kaggleFixture(t, text, func(dir string) {
		img := filepath.Join(dir, KaggleImages)
		for from, to := range map[string]string{"a.jpg": "A.JPG", "b.jpg": "b.jpeg", "c.jpg": "c.Png"} {
			if err := os.Rename(filepath.Join(img, from), filepath.Join(img, to)); err != nil {
				t.Fatal(err)
			}
		}
	})
	ds, err := OpenKaggle(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var labels []int
	for i := range ds.Len() {
		ids, labels = append(ids, ds.ID(i)), append(labels, ds.Label(i))
		if _, err := ds.Image(i); err != nil {
			t.Error(err)
		}
	}
	if want := []string{"A.JPG", "b.jpeg", "c.Png"}; !reflect.DeepEqual(ids, want) || !reflect.DeepEqual(labels, []int{1, 0, 2}) {
		t.Errorf("ids %q labels %v, want %q [1 0 2]", ids, labels, want)
	}
}

// TestFolderLayoutMixedCaseAndClutter: class folders hold .JPG/.JPEG/.png files next to files that
// are not images (a Thumbs.db, a hidden ._ resource fork, a notes.txt): only the images count.
func TestFolderLayoutMixedCaseAndClutter(t *testing.T) {
	dir := t.TempDir()
	jpg := jpegBytes(t, quadrantImage())
	files := map[string][]byte{
		"healthy/IMG_0001.JPG": jpg, "healthy/img2.JPEG": jpg, "healthy/Thumbs.db": []byte("x"),
		"sick/a.jpg": jpg, "sick/._a.jpg": []byte("resource fork"), "sick/notes.txt": []byte("hi"),
	}
	for name, b := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ds.Classes(), []string{"healthy", "sick"}) || !reflect.DeepEqual(ClassCounts(ds), []int{2, 1}) {
		t.Errorf("classes %q counts %v, want [healthy sick] [2 1]", ds.Classes(), ClassCounts(ds))
	}
}

// TestTinyImagesThroughThePipeline: a 1x1 JPEG and a 1-pixel strip are valid images; they are
// decoded, augmented with every op and batched like any other.
func TestTinyImagesThroughThePipeline(t *testing.T) {
	dir := t.TempDir()
	for name, r := range map[string]image.Rectangle{"dot.jpg": image.Rect(0, 0, 1, 1), "strip.jpg": image.Rect(0, 0, 1, 40)} {
		img := image.NewRGBA(r)
		for y := range r.Dy() {
			img.SetRGBA(0, y, color.RGBA{200, uint8(5 * y), 40, 255})
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, nil); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "leaf"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "leaf", name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := OpenFolder(dir, Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := augment.Default(16)
	cfg.Scaling = augment.ScaleUnit
	batches := collect(t, ds, PipelineOptions{BatchSize: 2, Views: 2, Augment: cfg, Epochs: 3, Workers: 2})
	if len(batches) != 3 {
		t.Fatalf("%d batches, want 3", len(batches))
	}
	for _, b := range batches {
		for _, v := range b.Images {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("value %g outside [0,1]", v)
			}
		}
	}
}

// TestOneClassDataset: a data set of a single class (a folder with one subdirectory, a filtered CSV)
// works with every sampler; the balanced sampler's batches then hold only that class.
func TestOneClassDataset(t *testing.T) {
	ds := &labelsOnly{labels: []int{0, 0, 0, 0, 0, 0, 0}, classes: []string{"only"}}
	for _, kind := range SamplerKinds {
		s, err := NewSampler(kind, ds, 4, 1)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		order := s.Epoch(0)
		if len(order) < ds.Len() || len(order) != s.EpochLen() {
			t.Errorf("%s: epoch of %d (EpochLen %d) for %d images", kind, len(order), s.EpochLen(), ds.Len())
		}
		seen := map[int]bool{}
		for _, i := range order {
			seen[i] = true
		}
		if len(seen) != ds.Len() {
			t.Errorf("%s: epoch visits %d of the %d images", kind, len(seen), ds.Len())
		}
	}
	// Declared classes of which only one has images: balancing is impossible and says why.
	two := &labelsOnly{labels: []int{1, 1, 1}, classes: []string{"empty", "full"}}
	if _, err := NewSampler(SampleBalanced, two, 4, 1); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("balanced sampler with an empty class: error %v should name it", err)
	}
	if s, err := NewSampler(SampleOversample, two, 4, 1); err != nil || len(s.Epoch(0)) != 3 {
		t.Errorf("oversampler with an empty class: err %v", err)
	}
}

// TestBatchLargerThanDataset: 3 images in batches of 8. Evaluation gets one padded batch covering
// all 3; training (DropRemainder) is refused with the reason, except through the balanced sampler,
// whose epoch is always whole batches (the images repeat).
func TestBatchLargerThanDataset(t *testing.T) {
	ds := &memDataset{n: 3}
	base := PipelineOptions{BatchSize: 8, Augment: augment.Eval(8), Epochs: 2, Workers: 2}
	got := collect(t, ds, base)
	if len(got) != 2 {
		t.Fatalf("full coverage: %d batches, want one per epoch", len(got))
	}
	for _, b := range got {
		if b.Valid != 3 || b.Size != 8 || !b.Last || !reflect.DeepEqual(b.Indices, []int{0, 1, 2}) || b.Labels[3] != -1 {
			t.Errorf("batch: valid %d size %d last %v indices %v labels %v", b.Valid, b.Size, b.Last, b.Indices, b.Labels)
		}
	}

	drop := base
	drop.DropRemainder = true
	p, err := NewPipeline(context.Background(), ds, drop)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Next(); err == nil || !strings.Contains(err.Error(), "fewer than one batch") {
		t.Errorf("drop remainder: error %v, want 'fewer than one batch'", err)
	}

	s, err := NewSampler(SampleBalanced, ds, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	drop.Order = s
	got = collect(t, ds, drop)
	if len(got) != 2 {
		t.Fatalf("balanced: %d batches, want one per epoch", len(got))
	}
	for _, b := range got {
		h := make([]int, 3)
		for _, l := range b.Labels {
			h[l]++
		}
		if b.Valid != 8 || h[0] < 2 || h[1] < 2 || h[2] < 2 {
			t.Errorf("balanced batch: valid %d, class histogram %v", b.Valid, h)
		}
	}
}

// TestKaggleCSVIdsWithSubdirectories: ids may name files in subdirectories of the image folder, with
// either slash; spellings of the same file are one id (a duplicate); paths leaving the folder are bad.
func TestKaggleCSVIdsWithSubdirectories(t *testing.T) {
	sub := func(dir string) {
		img := filepath.Join(dir, KaggleImages)
		if err := os.MkdirAll(filepath.Join(img, "sick"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(img, "d.jpg"), filepath.Join(img, "sick", "d.jpg")); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := OpenKaggle(kaggleFixture(t, "image_id,label\na.jpg,0\nsick/d.jpg,1\nc.jpg,2\n", sub), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.ID(1) != "sick/d.jpg" {
		t.Errorf("id %q, want sick/d.jpg", ds.ID(1))
	}
	if _, err := ds.Image(1); err != nil {
		t.Error(err)
	}
	for _, c := range []struct{ row, want string }{
		{`sick\d.jpg,1`, ""},
		{"./a.jpg,1", `duplicate image_id "a.jpg"`},
		{"sick/../a.jpg,1", `duplicate image_id "a.jpg"`},
		{"/etc/passwd,1", "is a path outside"},
		{"sick/../../a.jpg,1", "is a path outside"},
	} {
		dir := kaggleFixture(t, "image_id,label\na.jpg,0\nb.jpg,1\nc.jpg,2\n"+c.row+"\n", sub)
		_, err := OpenKaggle(dir, Options{})
		if c.want == "" && err != nil {
			t.Errorf("%s: %v", c.row, err)
		}
		if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "train.csv:5")) {
			t.Errorf("%s: error %v, want %q at train.csv:5", c.row, err, c.want)
		}
	}
}

// TestOpenFindsTFRecordExtensions: shards named the way TensorFlow's tutorials name them (.tfrecord)
// are found like Kaggle's .tfrec ones.
func TestOpenFindsTFRecordExtensions(t *testing.T) {
	src := tinySynthetic(t)
	dir, files := writeShards(t, src, 2)
	for _, f := range files {
		if err := os.Rename(f, strings.TrimSuffix(f, ".tfrec")+".tfrecord"); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameContent(t, src, ds)
}

// TestIDXCorruptHeaderAllocatesLittle: a short IDX file whose header claims a gigabyte of pixels (within
// the limit) is reported as truncated without allocating what the header claims.
func TestIDXCorruptHeaderAllocatesLittle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "train-images-idx3-ubyte")
	writeIDX(t, path, []int{1 << 10, 1 << 10, 1 << 10}, make([]byte, 100))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := ReadIDX(path)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "truncated: 100 of 1073741824") {
		t.Errorf("error %v, want truncated: 100 of 1073741824", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("allocated %d bytes for a 116-byte file", alloc)
	}
}

// TestTFRecordForgedLengthAllocatesLittle: a record header declaring 512 MiB (with a valid length CRC)
// followed by a few bytes is a truncated record, found without allocating the declared size.
func TestTFRecordForgedLengthAllocatesLittle(t *testing.T) {
	var head [12]byte
	binary.LittleEndian.PutUint64(head[:8], 1<<29)
	binary.LittleEndian.PutUint32(head[8:], maskedCRC(head[:8]))
	path := filepath.Join(t.TempDir(), "ld_train00-1.tfrec")
	if err := os.WriteFile(path, append(head[:], "a few bytes"...), 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := OpenTFRecords([]string{path}, Options{})
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "truncated record: 11 of 536870912") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v, want a truncated record in %s", err, path)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("allocated %d bytes for a 23-byte file", alloc)
	}
}

// TestFolderLayoutRepeatedFileNames: class folders that reuse file names (IMG_0001.JPG in each) get
// unique ids, so fold files and TFRecord shards written from them read back.
func TestFolderLayoutRepeatedFileNames(t *testing.T) {
	dir := t.TempDir()
	jpg := jpegBytes(t, quadrantImage())
	for _, name := range []string{"healthy/IMG_0001.JPG", "healthy/IMG_0002.JPG", "sick/IMG_0001.JPG", "sick/IMG_0003.JPG"} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, jpg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := OpenFolder(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range ds.Len() {
		ids = append(ids, ds.ID(i))
	}
	if want := []string{"healthy/IMG_0001.JPG", "healthy/IMG_0002.JPG", "sick/IMG_0001.JPG", "sick/IMG_0003.JPG"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids %q, want %q", ids, want)
	}
	folds, err := KFold(ds, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	foldFile := filepath.Join(t.TempDir(), "folds.csv")
	if err := WriteFolds(foldFile, ds, folds); err != nil {
		t.Fatal(err)
	}
	if back, err := ReadFolds(foldFile, ds); err != nil || !reflect.DeepEqual(back, folds) {
		t.Errorf("fold file read back: %v %v, want %v", back, err, folds)
	}
	files, err := WriteTFRecords(ds, t.TempDir(), "ld_train", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := OpenTFRecords(files, Options{}); err != nil || back.Len() != 4 {
		t.Errorf("shards read back: %v", err)
	}
}

// TestBalancedShards: with the balanced sampler built for the per-device batch size, every shard of
// every global batch holds every class.
func TestBalancedShards(t *testing.T) {
	ds := &memDataset{n: 40} // 3 classes
	s, err := NewSampler(SampleBalanced, ds, 6, 9)
	if err != nil {
		t.Fatal(err)
	}
	batches := collect(t, ds, PipelineOptions{BatchSize: 12, NumShards: 2, DropRemainder: true, Order: s,
		Augment: augment.Eval(4), Epochs: 3, Workers: 2})
	if len(batches) != 9 {
		t.Fatalf("%d batches, want 3 per epoch", len(batches))
	}
	for _, b := range batches {
		shards, err := b.Shards(2)
		if err != nil {
			t.Fatal(err)
		}
		for k, sh := range shards {
			h := make([]int, 3)
			for _, l := range sh.Labels {
				h[l]++
			}
			if h[0] != 2 || h[1] != 2 || h[2] != 2 {
				t.Errorf("epoch %d step %d shard %d: class histogram %v, want [2 2 2]", b.Epoch, b.Step, k, h)
			}
		}
	}
}

// TestBalancedSamplerBatchMismatch: a balanced sampler built for batches of 6 cannot feed batches of 8
// (they would cut across its balanced runs): the pipeline says so instead of losing classes.
func TestBalancedSamplerBatchMismatch(t *testing.T) {
	ds := &memDataset{n: 30}
	s, err := NewSampler(SampleBalanced, ds, 6, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewPipeline(context.Background(), ds, PipelineOptions{BatchSize: 8, Order: s, Augment: augment.Eval(4), Epochs: 1})
	if err == nil || !strings.Contains(err.Error(), "batch size 8 is not a multiple of the balanced sampler's batch size 6") {
		t.Errorf("error %v", err)
	}
}

// TestAugmentedSamplesFromBalancedSampler: the -inspect preview takes the first n images of a balanced
// epoch even when n is not a multiple of the sampler's batch size, and returns every view of each.
func TestAugmentedSamplesFromBalancedSampler(t *testing.T) {
	ds := &memDataset{n: 30}
	s, err := NewSampler(SampleBalanced, ds, 6, 1)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := AugmentedSamples(ds, s, augment.Default(8), 4, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 8 || imgs[0].Bounds() != image.Rect(0, 0, 8, 8) {
		t.Errorf("%d images, first %v; want 8 of 8x8", len(imgs), imgs[0].Bounds())
	}
}
