package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"

	"github.com/pkg/errors"
)

// FashionMNISTDir is where Debian's dataset-fashion-mnist package installs the IDX files.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// FashionMNISTClasses are Fashion-MNIST's 10 classes in label order.
var FashionMNISTClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// maxIDXBytes bounds the data size an IDX header may declare (Fashion-MNIST's training images are 47 MB).
const maxIDXBytes = 1 << 31

// ReadIDX reads an IDX file of unsigned bytes (type 0x08), gzipped or not (detected by content), and
// returns its dimensions and data, row-major.
func ReadIDX(path string) (dims []int, values []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, errors.Errorf("idx %s: %v", path, unwrapPathError(err))
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, errors.Errorf("idx %s: bad gzip: %v", path, err)
		}
		defer gz.Close()
		r = gz
	}
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, nil, errors.Errorf("idx %s: truncated header: %v", path, err)
	}
	if head[0] != 0 || head[1] != 0 {
		return nil, nil, errors.Errorf("idx %s: bad magic % x, not an IDX file", path, head)
	}
	if head[2] != 0x08 {
		return nil, nil, errors.Errorf("idx %s: element type 0x%02x, only unsigned bytes (0x08) are supported", path, head[2])
	}
	nd := int(head[3])
	if nd == 0 {
		return nil, nil, errors.Errorf("idx %s: zero dimensions", path)
	}
	size := int64(1)
	for i := 0; i < nd; i++ {
		var d uint32
		if err := binary.Read(r, binary.BigEndian, &d); err != nil {
			return nil, nil, errors.Errorf("idx %s: truncated header (dimension %d): %v", path, i, err)
		}
		dims = append(dims, int(d))
		size *= int64(d)
		if size > maxIDXBytes {
			return nil, nil, errors.Errorf("idx %s: dimensions %v are over the %d bytes limit", path, dims, int64(maxIDXBytes))
		}
	}
	// Read what is there rather than allocating what the header claims: a corrupt header within the
	// limit would otherwise cost up to maxIDXBytes of memory before the short read is noticed.
	values, err = io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return nil, nil, errors.Errorf("idx %s: after %d of %d data bytes: %v", path, len(values), size, err)
	}
	if int64(len(values)) < size {
		return nil, nil, errors.Errorf("idx %s: truncated: %d of %d data bytes", path, len(values), size)
	}
	return dims, values, nil
}

// fashionMNISTFile returns dir/base or dir/base.gz, whichever exists, or "".
func fashionMNISTFile(dir, base string) string {
	for _, name := range []string{base + ".gz", base} {
		if path := filepath.Join(dir, name); exists(path) {
			return path
		}
	}
	return ""
}

// mnistDataset holds a whole IDX image set in memory (60000 28x28 images are 47 MB).
type mnistDataset struct {
	prefix        string
	width, height int
	pixels        []byte
	labels        []byte
	classes       []string
}

func (d *mnistDataset) Len() int          { return len(d.labels) }
func (d *mnistDataset) ID(i int) string   { return fmt.Sprintf("%s-%05d", d.prefix, i) }
func (d *mnistDataset) Label(i int) int   { return int(d.labels[i]) }
func (d *mnistDataset) Classes() []string { return d.classes }

// Image returns a fresh *image.Gray (a copy, so callers may modify it).
func (d *mnistDataset) Image(i int) (image.Image, error) {
	n := d.width * d.height
	img := image.NewGray(image.Rect(0, 0, d.width, d.height))
	copy(img.Pix, d.pixels[i*n:(i+1)*n])
	return img, nil
}

// OpenFashionMNIST reads Fashion-MNIST's IDX files from dir (FashionMNISTDir for the Debian package):
// train-images-idx3-ubyte / train-labels-idx1-ubyte when train, else the t10k-* test files, gzipped or
// not. Images are 28x28 *image.Gray; the 10 classes are FashionMNISTClasses.
func OpenFashionMNIST(dir string, train bool) (Dataset, error) {
	prefix := "t10k"
	if train {
		prefix = "train"
	}
	imgPath := fashionMNISTFile(dir, prefix+"-images-idx3-ubyte")
	labPath := fashionMNISTFile(dir, prefix+"-labels-idx1-ubyte")
	if imgPath == "" || labPath == "" {
		return nil, errors.Errorf("fashion-mnist %s: missing %s-images-idx3-ubyte[.gz] or %s-labels-idx1-ubyte[.gz] "+
			"(Debian: apt-get install dataset-fashion-mnist, files in %s)", dir, prefix, prefix, FashionMNISTDir)
	}
	return openIDXPair(imgPath, labPath, prefix, FashionMNISTClasses)
}

// openIDXPair reads an images IDX (N x H x W) and a labels IDX (N) file.
func openIDXPair(imgPath, labPath, prefix string, classes []string) (Dataset, error) {
	idims, pixels, err := ReadIDX(imgPath)
	if err != nil {
		return nil, err
	}
	if len(idims) != 3 || idims[1] == 0 || idims[2] == 0 {
		return nil, errors.Errorf("idx %s: dimensions %v, expected images N x height x width", imgPath, idims)
	}
	ldims, labels, err := ReadIDX(labPath)
	if err != nil {
		return nil, err
	}
	if len(ldims) != 1 || ldims[0] != idims[0] {
		return nil, errors.Errorf("idx %s: dimensions %v, expected %d labels to match %s", labPath, ldims, idims[0], imgPath)
	}
	for i, l := range labels {
		if int(l) >= len(classes) {
			return nil, errors.Errorf("idx %s: label %d of image %d out of range [0, %d)", labPath, l, i, len(classes))
		}
	}
	return &mnistDataset{prefix: prefix, height: idims[1], width: idims[2], pixels: pixels, labels: labels, classes: classes}, nil
}
