package data

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/pkg/errors"
)

// Kaggle Cassava file names.
const (
	KaggleCSV       = "train.csv"
	KaggleImages    = "train_images"
	KaggleTestDir   = "test_images"
	KaggleLabelMap  = "label_num_to_disease_map.json"
	kaggleIDColumn  = "image_id"
	kaggleLabColumn = "label"
)

// maxUndeclaredClasses bounds the labels accepted when the classes are not declared (the class count
// is then the largest label + 1), so one corrupt label cannot create millions of classes.
const maxUndeclaredClasses = 1 << 16

// CassavaClasses are the short names of the 5 Cassava classes, in Kaggle's label order; used when a
// 5-class dataset comes without its label map.
var CassavaClasses = []string{"CBB", "CBSD", "CGM", "CMD", "Healthy"}

// CassavaCounts are the class counts of Kaggle's Cassava training set (21397 images), in label order.
var CassavaCounts = []int{1087, 2189, 2386, 13158, 2577}

// ReadLabelMap reads a Kaggle label map ({"0": "Cassava Bacterial Blight (CBB)", ...}) and returns the
// class names in label order, shortened to the parenthesised abbreviation when there is one ("CBB";
// "Healthy" stays "Healthy"). Keys must be exactly 0..K-1.
func ReadLabelMap(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.Errorf("label map %s: %v", path, unwrapPathError(err))
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, errors.Errorf("label map %s: not a JSON object of label number to name: %v", path, err)
	}
	names := make([]string, len(m))
	for k, v := range m {
		n, err := strconv.Atoi(strings.TrimSpace(k))
		if err != nil || n < 0 || n >= len(m) {
			return nil, errors.Errorf("label map %s: key %q is not a label number in [0, %d)", path, k, len(m))
		}
		names[n] = shortClassName(v)
	}
	for i, n := range names {
		if n == "" {
			return nil, errors.Errorf("label map %s: label %d has an empty name", path, i)
		}
	}
	return names, nil
}

// shortClassName: "Cassava Bacterial Blight (CBB)" -> "CBB"; names without parentheses are kept.
func shortClassName(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, ")") {
		if open := strings.LastIndex(s, "("); open >= 0 && open < len(s)-2 {
			return strings.TrimSpace(s[open+1 : len(s)-1])
		}
	}
	return s
}

// declaredClasses returns the class names fixed before reading labels: opts.Classes, else the label map
// found in one of dirs (the first that has one), else nil (classes then come from the labels).
func declaredClasses(opts *Options, dirs ...string) ([]string, error) {
	if len(opts.Classes) > 0 {
		return opts.Classes, nil
	}
	for _, dir := range dirs {
		path := filepath.Join(dir, KaggleLabelMap)
		if _, err := os.Stat(path); err == nil {
			return ReadLabelMap(path)
		}
	}
	return nil, nil
}

// classesFor returns the class names for labels when none were declared: K = the largest label + 1
// classes, named as Cassava's when K is 5, else "0".."K-1".
// Without any label (a test set) there are no classes: nil.
func classesFor(labels []int) []string {
	k := 0
	for _, l := range labels {
		k = max(k, l+1)
	}
	if k == 0 {
		return nil
	}
	if k == len(CassavaClasses) {
		return append([]string(nil), CassavaClasses...)
	}
	names := make([]string, max(k, 0))
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	return names
}

// OpenKaggle opens Kaggle's Cassava layout: dir/train.csv (columns image_id,label; others ignored) and
// the images in dir/train_images/<image_id>. Class names come from dir/label_num_to_disease_map.json
// when present (then labels must be below its size), else opts.Classes, else the Cassava names when the
// labels span 5 classes, else "0".."K-1".
func OpenKaggle(dir string, opts Options) (Dataset, error) {
	if len(opts.Classes) == 0 {
		classes, err := declaredClasses(&opts, dir)
		if err != nil {
			return nil, err
		}
		opts.Classes = classes
	}
	return OpenCSV(filepath.Join(dir, KaggleCSV), filepath.Join(dir, KaggleImages), opts)
}

// OpenKaggleTest opens Kaggle's unlabelled test images, dir/test_images/*.jpg, for prediction (labels
// -1; classes, normally the training set's, name the predictions).
func OpenKaggleTest(dir string, classes []string, opts Options) (Dataset, error) {
	return OpenUnlabelled(filepath.Join(dir, KaggleTestDir), classes, opts)
}

// newCSVReader returns a CSV reader of f that skips a leading UTF-8 byte order mark, as spreadsheets
// (Excel's "CSV UTF-8") write one. It must go before the CSV parser sees it: in front of a quoted
// header ("\ufeff"image_id") it would make the first field malformed.
func newCSVReader(f io.Reader) *csv.Reader {
	br := bufio.NewReader(f)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	return csv.NewReader(br)
}

// OpenCSV opens a CSV of image_id,label rows (header required, extra columns ignored) whose images are
// imageDir/<image_id> (image_id may hold a subdirectory: "sick/1.jpg"). Bad rows (wrong field count,
// an empty id or one that leaves imageDir ("../x.jpg", "/x.jpg"), a label that is not an integer,
// negative or not below len(opts.Classes), a duplicate id, a missing or zero-byte file) fail with the
// file and row named, or are skipped with opts.SkipBad.
func OpenCSV(csvPath, imageDir string, opts Options) (Dataset, error) {
	if len(opts.Classes) == 0 {
		opts.Classes = nil // an empty list declares nothing: the classes come from the labels
	}
	f, err := os.Open(csvPath)
	if err != nil {
		return nil, errors.Errorf("labels %s: %v", csvPath, unwrapPathError(err))
	}
	defer f.Close()
	r := newCSVReader(f)
	r.FieldsPerRecord = -1 // rows are checked one by one, so one bad row can be skipped
	r.ReuseRecord = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, errors.Errorf("labels %s: empty file, expected a header %s,%s", csvPath, kaggleIDColumn, kaggleLabColumn)
	}
	if err != nil {
		return nil, errors.Errorf("labels %s: bad header: %v", csvPath, err)
	}
	idCol, labCol := -1, -1
	for i, h := range header {
		h = strings.TrimSpace(h)
		switch h {
		case kaggleIDColumn:
			idCol = i
		case kaggleLabColumn:
			labCol = i
		}
	}
	if idCol < 0 || labCol < 0 {
		return nil, errors.Errorf("labels %s: bad header %q: expected columns %s,%s", csvPath, header, kaggleIDColumn, kaggleLabColumn)
	}
	numClasses := len(opts.Classes) // 0: not declared
	d := &fileDataset{}
	seen := make(map[string]int)
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, errors.Errorf("labels %s: %v", csvPath, err)
			}
			if err := d.bad(&opts, csvPath+":"+strconv.Itoa(pe.StartLine), "malformed CSV: %v", pe.Err); err != nil {
				return nil, err
			}
			continue
		}
		line, _ := r.FieldPos(0)
		where := csvPath + ":" + strconv.Itoa(line)
		if len(rec) != len(header) {
			if err := d.bad(&opts, where, "%d fields, the header has %d", len(rec), len(header)); err != nil {
				return nil, err
			}
			continue
		}
		// An id may name a file in a subdirectory of imageDir ("healthy/1.jpg"), with either slash as
		// a CSV written on Windows has them, but never one outside it.
		id := strings.ReplaceAll(strings.TrimSpace(rec[idCol]), `\`, "/")
		if id != "" {
			id = path.Clean(id) // one spelling per file, for the duplicate check
		}
		labelText := strings.TrimSpace(rec[labCol])
		label, convErr := strconv.Atoi(labelText)
		var reason string
		switch {
		case id == "":
			reason = "empty image_id"
		case !filepath.IsLocal(id) || id == ".":
			reason = "image_id " + strconv.Quote(id) + " is a path outside " + imageDir + ", expected a file name there"
		case convErr != nil:
			reason = "label " + strconv.Quote(labelText) + " is not an integer"
		case label < 0:
			reason = "label " + labelText + " is negative"
		case numClasses == 0 && label >= maxUndeclaredClasses:
			reason = "label " + labelText + " is implausibly large (over " + strconv.Itoa(maxUndeclaredClasses) + " classes); set Options.Classes if it is real"
		case numClasses > 0 && label >= numClasses:
			reason = "label " + labelText + " out of range [0, " + strconv.Itoa(numClasses) + ") for classes " + strings.Join(opts.Classes, ",")
		}
		if prev, dup := seen[id]; dup && reason == "" {
			reason = "duplicate image_id " + strconv.Quote(id) + " (first at line " + strconv.Itoa(prev) + ")"
		}
		if reason != "" {
			if err := d.bad(&opts, where, "%s", reason); err != nil {
				return nil, err
			}
			continue
		}
		if err := d.add(&opts, where, filepath.Join(imageDir, id), id, label); err != nil {
			return nil, err
		}
		seen[id] = line
	}
	if len(d.paths) == 0 {
		return nil, errors.Errorf("labels %s: no usable rows", csvPath)
	}
	d.classes = opts.Classes
	if d.classes == nil {
		d.classes = classesFor(d.labels)
	}
	return d.finish(csvPath, &opts)
}

// WriteKaggle writes ds in Kaggle's layout under dir: train.csv, train_images/ (original bytes when ds
// has them, else quality-95 JPEGs) and label_num_to_disease_map.json with ds's class names, so that
// OpenKaggle reads back the same ids, labels and classes. Unlabelled images are an error.
func WriteKaggle(ds Dataset, dir string) error {
	imgDir := filepath.Join(dir, KaggleImages)
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return errors.Wrapf(err, "creating %s", imgDir)
	}
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	_ = w.Write([]string{kaggleIDColumn, kaggleLabColumn})
	for i := 0; i < ds.Len(); i++ {
		l := ds.Label(i)
		if l < 0 || l >= len(ds.Classes()) {
			return errors.Errorf("WriteKaggle: image %s has label %d, not a class of %q", ds.ID(i), l, ds.Classes())
		}
		if err := writeImageFile(ds, i, imgDir); err != nil {
			return err
		}
		_ = w.Write([]string{fileName(ds.ID(i)), strconv.Itoa(l)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return errors.Wrap(err, "WriteKaggle: CSV")
	}
	if err := os.WriteFile(filepath.Join(dir, KaggleCSV), []byte(sb.String()), 0o644); err != nil {
		return errors.Wrap(err, "WriteKaggle")
	}
	return writeLabelMap(filepath.Join(dir, KaggleLabelMap), ds.Classes())
}

// writeLabelMap writes classes as a Kaggle label map (keys "0".."K-1").
func writeLabelMap(path string, classes []string) error {
	m := make(map[string]string, len(classes))
	for i, c := range classes {
		m[strconv.Itoa(i)] = c
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return errors.Wrap(err, "label map")
	}
	return errors.Wrapf(os.WriteFile(path, b, 0o644), "writing %s", path)
}

// Open opens the dataset in dir, detecting its layout, with strict Options; see OpenWith.
func Open(dir string) (Dataset, error) { return OpenWith(dir, Options{}) }

// OpenWith opens the dataset in dir, detecting its layout, in this order:
//   - Kaggle CSV: dir/train.csv (+ dir/train_images/) -> OpenKaggle;
//   - TFRecords: dir/*.tfrec (or .tfrecord, .tfrecords), or the same in dir/train_tfrecords -> OpenTFRecords;
//   - Fashion-MNIST: dir/train-images-idx3-ubyte[.gz] -> OpenFashionMNIST (training split);
//   - folder per class: subdirectories holding images -> OpenFolder;
//   - images directly in dir -> OpenUnlabelled (labels -1, classes from opts.Classes).
func OpenWith(dir string, opts Options) (Dataset, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, errors.Errorf("dataset %s: %v", dir, unwrapPathError(err))
	}
	if !st.IsDir() {
		return nil, errors.Errorf("dataset %s: not a directory", dir)
	}
	if exists(filepath.Join(dir, KaggleCSV)) {
		return OpenKaggle(dir, opts)
	}
	for _, tfDir := range []string{dir, filepath.Join(dir, "train_tfrecords")} {
		// Kaggle names its shards .tfrec; TensorFlow's own examples write .tfrecord(s).
		var files []string
		for _, ext := range []string{"*.tfrec", "*.tfrecord", "*.tfrecords"} {
			found, _ := filepath.Glob(filepath.Join(tfDir, ext))
			files = append(files, found...)
		}
		if len(files) > 0 {
			sort.Strings(files)
			return OpenTFRecords(files, opts)
		}
	}
	if fashionMNISTFile(dir, "train-images-idx3-ubyte") != "" {
		return OpenFashionMNIST(dir, true)
	}
	withImages, empty, err := classDirs(dir)
	if err != nil {
		return nil, err
	}
	if len(withImages) > 0 {
		return OpenFolder(dir, opts)
	}
	if names, _ := listImages(dir); len(names) > 0 {
		return OpenUnlabelled(dir, opts.Classes, opts)
	}
	return nil, errors.Errorf("dataset %s: no known layout found (looked for %s, *.tfrec[ord[s]], train-images-idx3-ubyte[.gz], "+
		"class subdirectories with images (found %d empty ones), or image files)", dir, KaggleCSV, len(empty))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
