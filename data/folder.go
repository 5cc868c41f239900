package data

import (
	"image"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/pkg/errors"
)

// fileDataset is a dataset of one image file per entry: the Kaggle CSV layout, the folder-per-class
// layout and unlabelled (test) folders all reduce to it. It is immutable after opening, hence safe for
// concurrent use.
type fileDataset struct {
	skipLog
	paths   []string
	ids     []string
	labels  []int
	classes []string
}

func (d *fileDataset) Len() int                         { return len(d.paths) }
func (d *fileDataset) ID(i int) string                  { return d.ids[i] }
func (d *fileDataset) Label(i int) int                  { return d.labels[i] }
func (d *fileDataset) Classes() []string                { return d.classes }
func (d *fileDataset) Image(i int) (image.Image, error) { return DecodeFile(d.paths[i]) }

// Path returns the file image i is read from.
func (d *fileDataset) Path(i int) string { return d.paths[i] }

// RawImage returns the file's bytes as they are on disk.
func (d *fileDataset) RawImage(i int) ([]byte, error) {
	b, err := os.ReadFile(d.paths[i])
	if err != nil {
		return nil, errors.Errorf("image %s: %v", d.paths[i], unwrapPathError(err))
	}
	if len(b) == 0 {
		return nil, errors.Errorf("image %s: empty (zero bytes)", d.paths[i])
	}
	return b, nil
}

// add appends one entry after checking that its file exists and is not empty (cheap checks done for
// every file when opening, so that a missing file is reported at once rather than hours into training).
func (d *fileDataset) add(opts *Options, where, path, id string, label int) error {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return d.bad(opts, where, "image %s: %v", path, unwrapPathError(err))
	case st.IsDir():
		return d.bad(opts, where, "image %s is a directory", path)
	case st.Size() == 0:
		return d.bad(opts, where, "image %s is empty (zero bytes)", path)
	}
	d.paths = append(d.paths, path)
	d.ids = append(d.ids, id)
	d.labels = append(d.labels, label)
	return nil
}

// verify decodes every image (Options.Verify), in parallel, dropping (SkipBad) or failing on bad ones.
func (d *fileDataset) verify(opts *Options) error {
	errs := verifyImages(d)
	keep := 0
	for i := range d.paths {
		if errs[i] != nil {
			if err := d.bad(opts, d.paths[i], "%v", errs[i]); err != nil {
				return err
			}
			continue
		}
		d.paths[keep], d.ids[keep], d.labels[keep] = d.paths[i], d.ids[i], d.labels[i]
		keep++
	}
	d.paths, d.ids, d.labels = d.paths[:keep], d.ids[:keep], d.labels[:keep]
	return nil
}

// verifyImages decodes every image of ds in parallel and returns the error of each (nil when fine).
func verifyImages(ds Dataset) []error {
	errs := make([]error, ds.Len())
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				_, errs[i] = ds.Image(i)
			}
		}()
	}
	for i := 0; i < ds.Len(); i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}

// imageExtensions are the file names listed when scanning folders (decoding itself goes by content).
var imageExtensions = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".bmp": true, ".webp": true, ".tif": true, ".tiff": true}

func isImageName(name string) bool {
	return imageExtensions[strings.ToLower(filepath.Ext(name))] && !strings.HasPrefix(name, ".")
}

// listImages returns the sorted names of the image files directly in dir.
func listImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, errors.Errorf("reading directory %s: %v", dir, unwrapPathError(err))
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && isImageName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// classDirs returns the sorted names of dir's subdirectories that hold at least one image file, and
// the names of those that hold none.
func classDirs(dir string) (withImages, empty []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, errors.Errorf("reading directory %s: %v", dir, unwrapPathError(err))
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		names, err := listImages(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, err
		}
		if len(names) > 0 {
			withImages = append(withImages, e.Name())
		} else {
			empty = append(empty, e.Name())
		}
	}
	sort.Strings(withImages)
	sort.Strings(empty)
	return withImages, empty, nil
}

// OpenFolder opens the folder-per-class layout DIR/<class>/*.jpg: the classes are the subdirectories,
// sorted by name (so class indices are stable), each holding that class's images (any of .jpg .jpeg
// .png .gif .bmp .webp .tif .tiff, in any case; decoded by content). A subdirectory without images is
// an empty class: an error unless opts.AllowEmptyClasses. opts.Classes, when set, fixes the class
// names and order instead: every subdirectory must then be one of them. Image ids are the file names,
// or "<class>/<file name>" for every image when a file name repeats across classes, so ids are unique.
func OpenFolder(dir string, opts Options) (Dataset, error) {
	withImages, empty, err := classDirs(dir)
	if err != nil {
		return nil, err
	}
	classes := opts.Classes
	if len(classes) == 0 {
		classes = append(append([]string(nil), withImages...), empty...)
		sort.Strings(classes)
	}
	if len(classes) == 0 {
		return nil, errors.Errorf("%s: no class subdirectories (folder-per-class layout is DIR/<class>/*.jpg)", dir)
	}
	index := make(map[string]int, len(classes))
	for i, c := range classes {
		index[c] = i
	}
	d := &fileDataset{classes: classes}
	classOf := map[string]string{} // file name -> the first class directory holding it
	clash := false
	for _, c := range withImages {
		label, ok := index[c]
		if !ok {
			if err := d.bad(&opts, filepath.Join(dir, c), "directory is not one of the classes %q", classes); err != nil {
				return nil, err
			}
			continue
		}
		names, err := listImages(filepath.Join(dir, c))
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if prev, ok := classOf[name]; ok && prev != c {
				clash = true
			}
			classOf[name] = c
			path := filepath.Join(dir, c, name)
			if err := d.add(&opts, path, path, name, label); err != nil {
				return nil, err
			}
		}
	}
	if clash {
		// The same file name in two classes (camera names like IMG_0001.JPG often repeat): ids must
		// stay unique, as fold files, TFRecord image_names and predictions are keyed by them.
		for i, p := range d.paths {
			d.ids[i] = filepath.Base(filepath.Dir(p)) + "/" + d.ids[i]
		}
	}
	return d.finish(dir, &opts)
}

// finish runs the optional verification and the empty-class check shared by the file layouts.
func (d *fileDataset) finish(where string, opts *Options) (*fileDataset, error) {
	if opts.Verify {
		if err := d.verify(opts); err != nil {
			return nil, err
		}
	}
	if err := checkEmptyClasses(where, d, opts); err != nil {
		return nil, err
	}
	return d, nil
}

// checkEmptyClasses fails when a declared class has no image, unless opts.AllowEmptyClasses.
// Unlabelled datasets (all labels -1) have nothing to check.
func checkEmptyClasses(where string, ds Dataset, opts *Options) error {
	if opts.AllowEmptyClasses {
		return nil
	}
	labelled := false
	for i := 0; i < ds.Len() && !labelled; i++ {
		labelled = ds.Label(i) >= 0
	}
	if !labelled && ds.Len() > 0 {
		return nil
	}
	var missing []string
	for c, n := range ClassCounts(ds) {
		if n == 0 {
			missing = append(missing, ds.Classes()[c])
		}
	}
	if len(missing) > 0 {
		return errors.Errorf("%s: class(es) %q have no images (of %d classes %q); set Options.AllowEmptyClasses to accept this",
			where, missing, len(ds.Classes()), ds.Classes())
	}
	return nil
}

// OpenUnlabelled opens a folder of images without labels, such as Kaggle's test_images, for
// prediction: every label is -1 and classes (normally the training set's) are only carried along so
// predictions can be named. Image ids are the file names.
func OpenUnlabelled(dir string, classes []string, opts Options) (Dataset, error) {
	names, err := listImages(dir)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.Errorf("%s: no image files (.jpg .jpeg .png .gif .bmp .webp .tif .tiff)", dir)
	}
	d := &fileDataset{classes: classes}
	for _, name := range names {
		path := filepath.Join(dir, name)
		if err := d.add(&opts, path, path, name, -1); err != nil {
			return nil, err
		}
	}
	return d.finish(dir, &opts)
}

// WriteFolder writes ds in the folder-per-class layout under dir (dir/<class>/<id>), storing each
// image's original bytes when ds has them (RawImager), else a quality-95 JPEG. Unlabelled images are
// an error: the layout has no place for them.
func WriteFolder(ds Dataset, dir string) error {
	for i := 0; i < ds.Len(); i++ {
		l := ds.Label(i)
		if l < 0 || l >= len(ds.Classes()) {
			return errors.Errorf("WriteFolder: image %s has label %d, not a class of %q", ds.ID(i), l, ds.Classes())
		}
		if err := writeImageFile(ds, i, filepath.Join(dir, ds.Classes()[l])); err != nil {
			return err
		}
	}
	return nil
}

// writeImageFile writes image i of ds into dir as fileName(ds.ID(i)).
func writeImageFile(ds Dataset, i int, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errors.Wrapf(err, "creating %s", dir)
	}
	b, err := EncodedImage(ds, i)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, fileName(ds.ID(i)))
	return errors.Wrapf(os.WriteFile(path, b, 0o644), "writing %s", path)
}

// fileName turns an image id into a safe file name: ids without an image extension get ".jpg", and
// path separators are replaced so an id can never write outside the target directory.
func fileName(id string) string {
	name := strings.NewReplacer("/", "_", "\\", "_").Replace(id)
	if name == "" || strings.HasPrefix(name, ".") {
		name = "_" + name // neither empty, nor hidden, nor "." / ".."
	}
	if !isImageName(name) {
		name += ".jpg"
	}
	return name
}
