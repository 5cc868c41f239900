package data

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/pkg/errors"
	"google.golang.org/protobuf/encoding/protowire"
)

// TFRecord framing (as TensorFlow writes it): for each record
//
//	uint64 length (little endian), uint32 masked CRC32C of those 8 bytes, length bytes of data,
//	uint32 masked CRC32C of the data.
//
// Kaggle's Cassava TFRecords hold one tf.train.Example per record with the features
// image (bytes: the JPEG file), image_name (bytes) and target (int64; absent in the test set).

// Feature names of the Kaggle Cassava TFRecords.
const (
	tfImage  = "image"
	tfName   = "image_name"
	tfTarget = "target"
)

// maxTFRecordLen bounds a record's declared length, so a corrupt length field is reported as such
// instead of attempting a huge allocation. Cassava records are ~100 KiB.
const maxTFRecordLen = 1 << 30

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TensorFlow's masked CRC32C: rotated right by 15 and offset, so that CRCs of data that
// itself holds CRCs stay well-distributed.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, crc32c)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// tfExample is the part of a tf.train.Example this package uses.
type tfExample struct {
	imageOff, imageLen int // the image bytes' position within the record data
	name               string
	target             int64
	hasTarget, hasName bool
	hasImage           bool
}

// scanTFRecords reads the records of r (named name in errors) and calls fn with each record's index,
// the offset of its data within the stream, and the data (valid only during the call). A bad data CRC
// or an fn error is reported through bad (which may choose to skip the record and return nil); a
// truncated stream or a bad length CRC ends the scan, as the framing cannot be recovered after them.
func scanTFRecords(r io.Reader, name string, fn func(rec int, off int64, data []byte) error, bad func(where, reason string) error) error {
	br := bufio.NewReaderSize(r, 1<<16)
	var (
		off  int64
		head [12]byte
		tail [4]byte
		buf  bytes.Buffer // the record data, reused
	)
	for rec := 0; ; rec++ {
		where := fmt.Sprintf("%s: record %d (byte offset %d)", name, rec, off)
		n, err := io.ReadFull(br, head[:])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return bad(where, fmt.Sprintf("truncated record header (%d of 12 bytes)", n))
		}
		length := binary.LittleEndian.Uint64(head[:8])
		if maskedCRC(head[:8]) != binary.LittleEndian.Uint32(head[8:]) {
			return bad(where, "bad CRC of the record length: file corrupt or not a TFRecord file")
		}
		if length > maxTFRecordLen {
			return bad(where, fmt.Sprintf("record length %d is over the %d limit", length, maxTFRecordLen))
		}
		// Grow the buffer as the bytes arrive rather than to the declared length, so a truncated
		// file (or a forged length with a matching CRC) costs what the file holds, not up to 1 GiB.
		buf.Reset()
		if n, err := io.CopyN(&buf, br, int64(length)); err != nil {
			return bad(where, fmt.Sprintf("truncated record: %d of %d data bytes", n, length))
		}
		data := buf.Bytes()
		if n, err := io.ReadFull(br, tail[:]); err != nil {
			return bad(where, fmt.Sprintf("truncated record: %d of 4 CRC bytes after the data", n))
		}
		dataOff := off + 12
		off += 12 + int64(length) + 4
		if maskedCRC(data) != binary.LittleEndian.Uint32(tail[:]) {
			if err := bad(where, "bad CRC of the record data: corrupt record"); err != nil {
				return err
			}
			continue
		}
		if err := fn(rec, dataOff, data); err != nil {
			if err := bad(where, err.Error()); err != nil {
				return err
			}
		}
	}
}

// parseExample extracts image, image_name and target from a serialized tf.train.Example:
//
//	Example { Features features = 1 }   Features { map<string, Feature> feature = 1 }
//	Feature { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3 } }
//	BytesList { repeated bytes value = 1 }   Int64List { repeated int64 value = 1 [packed] }
//
// Unknown fields and features are skipped; malformed wire data is an error.
func parseExample(b []byte) (ex tfExample, err error) {
	err = forEachField(b, 0, func(num protowire.Number, typ protowire.Type, v []byte, vOff int) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		return forEachField(v, vOff, func(num protowire.Number, typ protowire.Type, entry []byte, entryOff int) error {
			if num != 1 || typ != protowire.BytesType {
				return nil
			}
			return parseFeatureEntry(entry, entryOff, &ex)
		})
	})
	return ex, err
}

// parseFeatureEntry parses one map<string, Feature> entry {key = 1; value = 2} into ex.
func parseFeatureEntry(entry []byte, entryOff int, ex *tfExample) error {
	var (
		key      string
		value    []byte
		valueOff int
	)
	err := forEachField(entry, entryOff, func(num protowire.Number, typ protowire.Type, v []byte, vOff int) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			key = string(v)
		case num == 2 && typ == protowire.BytesType:
			value, valueOff = v, vOff
		}
		return nil
	})
	if err != nil {
		return err
	}
	switch key {
	case tfImage, tfName:
		var first []byte
		firstOff, count := 0, 0
		err = forEachListValue(value, valueOff, 1, func(typ protowire.Type, v []byte, vOff int) error {
			if typ != protowire.BytesType {
				return errors.Errorf("feature %q: expected a bytes_list", key)
			}
			if count == 0 {
				first, firstOff = v, vOff
			}
			count++
			return nil
		})
		if err == nil && count != 1 {
			err = errors.Errorf("feature %q: expected one value, got %d", key, count)
		}
		if err != nil {
			return err
		}
		if key == tfImage {
			ex.imageOff, ex.imageLen, ex.hasImage = firstOff, len(first), true
		} else {
			ex.name, ex.hasName = string(first), true
		}
	case tfTarget:
		var values []int64
		err = forEachListValue(value, valueOff, 3, func(typ protowire.Type, v []byte, _ int) error {
			switch typ {
			case protowire.VarintType: // unpacked: v holds the varint
				x, n := protowire.ConsumeVarint(v)
				if n < 0 {
					return protowire.ParseError(n)
				}
				values = append(values, int64(x))
			case protowire.BytesType: // packed
				for len(v) > 0 {
					x, n := protowire.ConsumeVarint(v)
					if n < 0 {
						return errors.Errorf("feature %q: bad packed int64: %v", key, protowire.ParseError(n))
					}
					values = append(values, int64(x))
					v = v[n:]
				}
			default:
				return errors.Errorf("feature %q: expected an int64_list", key)
			}
			return nil
		})
		if err == nil && len(values) != 1 {
			err = errors.Errorf("feature %q: expected one value, got %d", key, len(values))
		}
		if err != nil {
			return err
		}
		ex.target, ex.hasTarget = values[0], true
	}
	return nil
}

// forEachListValue visits the `value` fields (number 1) of the list kind listNum (1 bytes, 3 int64) of
// a Feature. A feature of another kind is an error.
func forEachListValue(feature []byte, featureOff int, listNum protowire.Number, fn func(typ protowire.Type, v []byte, vOff int) error) error {
	found := false
	err := forEachField(feature, featureOff, func(num protowire.Number, typ protowire.Type, list []byte, listOff int) error {
		if typ != protowire.BytesType || num < 1 || num > 3 {
			return nil
		}
		if num != listNum {
			return errors.Errorf("unexpected feature kind %d (expected %d)", num, listNum)
		}
		found = true
		return forEachField(list, listOff, func(num protowire.Number, typ protowire.Type, v []byte, vOff int) error {
			if num != 1 {
				return nil
			}
			return fn(typ, v, vOff)
		})
	})
	if err == nil && !found {
		err = errors.New("feature has no value list")
	}
	return err
}

// forEachField walks the fields of the protobuf message b (which starts at offset off of the record)
// and calls fn for each with its number, wire type, payload and the payload's offset in the record.
// For length-delimited fields the payload is the field's bytes; for varints, the varint's encoding.
func forEachField(b []byte, off int, fn func(num protowire.Number, typ protowire.Type, v []byte, vOff int) error) error {
	pos := 0
	for pos < len(b) {
		num, typ, n := protowire.ConsumeTag(b[pos:])
		if n < 0 {
			return errors.Errorf("malformed Example at byte %d: %v", off+pos, protowire.ParseError(n))
		}
		pos += n
		var v []byte
		vPos := pos
		if typ == protowire.BytesType {
			val, m := protowire.ConsumeBytes(b[pos:])
			if m < 0 {
				return errors.Errorf("malformed Example at byte %d: %v", off+pos, protowire.ParseError(m))
			}
			vPos = pos + m - len(val)
			v = val
			n = m
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b[pos:])
			if n < 0 {
				return errors.Errorf("malformed Example at byte %d: %v", off+pos, protowire.ParseError(n))
			}
			v = b[pos : pos+n]
		}
		pos += n
		if err := fn(num, typ, v, off+vPos); err != nil {
			return err
		}
	}
	return nil
}

// appendExample appends the serialized Example {image, image_name, target (when target >= 0)}.
func appendExample(b []byte, img []byte, name string, target int) []byte {
	var features []byte
	features = appendBytesFeature(features, tfImage, img)
	features = appendBytesFeature(features, tfName, []byte(name))
	if target >= 0 {
		var list, feature, entry []byte
		list = protowire.AppendTag(list, 1, protowire.BytesType)
		list = protowire.AppendBytes(list, protowire.AppendVarint(nil, uint64(target))) // packed
		feature = protowire.AppendTag(feature, 3, protowire.BytesType)
		feature = protowire.AppendBytes(feature, list)
		entry = appendMapEntry(entry, tfTarget, feature)
		features = append(features, entry...)
	}
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	return protowire.AppendBytes(b, features)
}

func appendBytesFeature(features []byte, key string, value []byte) []byte {
	list := protowire.AppendTag(nil, 1, protowire.BytesType)
	list = protowire.AppendBytes(list, value)
	feature := protowire.AppendTag(nil, 1, protowire.BytesType)
	feature = protowire.AppendBytes(feature, list)
	return appendMapEntry(features, key, feature)
}

// appendMapEntry appends the Features.feature map entry {key: value}.
func appendMapEntry(features []byte, key string, feature []byte) []byte {
	entry := protowire.AppendTag(nil, 1, protowire.BytesType)
	entry = protowire.AppendString(entry, key)
	entry = protowire.AppendTag(entry, 2, protowire.BytesType)
	entry = protowire.AppendBytes(entry, feature)
	features = protowire.AppendTag(features, 1, protowire.BytesType)
	return protowire.AppendBytes(features, entry)
}

// appendRecord appends data framed as one TFRecord.
func appendRecord(b, data []byte) []byte {
	var head [12]byte
	binary.LittleEndian.PutUint64(head[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(head[8:], maskedCRC(head[:8]))
	b = append(b, head[:]...)
	b = append(b, data...)
	return binary.LittleEndian.AppendUint32(b, maskedCRC(data))
}

// tfRecordDataset serves images straight from the TFRecord files: opening indexes every record (checking
// its CRCs and parsing its Example) and keeps only where each image's bytes are, so memory stays small;
// Image reads them with ReadAt, which is safe for concurrent use.
type tfRecordDataset struct {
	skipLog
	files   []*os.File
	names   []string // file names, for errors
	file    []int32  // per image: index into files
	off     []int64  // per image: offset of the image bytes in its file
	size    []int32  // per image: length of the image bytes
	ids     []string
	labels  []int
	classes []string
}

func (d *tfRecordDataset) Len() int          { return len(d.ids) }
func (d *tfRecordDataset) ID(i int) string   { return d.ids[i] }
func (d *tfRecordDataset) Label(i int) int   { return d.labels[i] }
func (d *tfRecordDataset) Classes() []string { return d.classes }

// RawImage returns the image feature's bytes (the original JPEG).
func (d *tfRecordDataset) RawImage(i int) ([]byte, error) {
	b := make([]byte, d.size[i])
	if _, err := d.files[d.file[i]].ReadAt(b, d.off[i]); err != nil {
		return nil, errors.Errorf("%s: image %s: %v", d.names[d.file[i]], d.ids[i], err)
	}
	return b, nil
}

func (d *tfRecordDataset) Image(i int) (image.Image, error) {
	b, err := d.RawImage(i)
	if err != nil {
		return nil, err
	}
	return DecodeBytes(d.names[d.file[i]]+": "+d.ids[i], b)
}

// Close closes the TFRecord files; the dataset cannot read images afterwards.
func (d *tfRecordDataset) Close() error {
	var first error
	for _, f := range d.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// OpenTFRecords opens TFRecord files of Kaggle Cassava Examples (image, image_name, target), e.g.
// filepath.Glob("train_tfrecords/ld_train*.tfrec") sorted. Every record's CRCs are checked on opening.
// A record with a bad data CRC, a malformed Example, a missing feature, a target out of range or a
// duplicate image_name is an error naming the file and record, or with opts.SkipBad a logged skip; a
// bad length CRC or a truncated file ends that file (its remaining records are lost) the same way.
// Records without target are unlabelled (-1). Classes: opts.Classes, else the label map in the files'
// directory or its parent, else from the targets (Cassava names for 5).
func OpenTFRecords(files []string, opts Options) (Dataset, error) {
	if len(files) == 0 {
		return nil, errors.New("OpenTFRecords: no files")
	}
	dir := filepath.Dir(files[0])
	classes, err := declaredClasses(&opts, dir, filepath.Dir(dir))
	if err != nil {
		return nil, err
	}
	d := &tfRecordDataset{}
	seen := make(map[string]string)
	fail := func(err error) (Dataset, error) {
		_ = d.Close()
		return nil, err
	}
	for fi, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return fail(errors.Errorf("tfrecord %s: %v", path, unwrapPathError(err)))
		}
		d.files = append(d.files, f)
		d.names = append(d.names, path)
		err = scanTFRecords(f, path, func(rec int, off int64, data []byte) error {
			ex, err := parseExample(data)
			if err != nil {
				return err
			}
			if !ex.hasImage || !ex.hasName {
				return errors.Errorf("Example lacks the %q or %q feature", tfImage, tfName)
			}
			if ex.imageLen == 0 {
				return errors.Errorf("image %s: empty (zero bytes)", ex.name)
			}
			label := -1
			if ex.hasTarget {
				limit := int64(maxUndeclaredClasses)
				if classes != nil {
					limit = int64(len(classes))
				}
				if ex.target < 0 || ex.target >= limit {
					return errors.Errorf("image %s: target %d out of range [0, %d)", ex.name, ex.target, limit)
				}
				label = int(ex.target)
			}
			where := path + ": record " + strconv.Itoa(rec)
			if prev, dup := seen[ex.name]; dup {
				return errors.Errorf("duplicate image_name %q (first at %s)", ex.name, prev)
			}
			seen[ex.name] = where
			d.file = append(d.file, int32(fi))
			d.off = append(d.off, off+int64(ex.imageOff))
			d.size = append(d.size, int32(ex.imageLen))
			d.ids = append(d.ids, ex.name)
			d.labels = append(d.labels, label)
			return nil
		}, func(where, reason string) error { return d.bad(&opts, where, "%s", reason) })
		if err != nil {
			return fail(err)
		}
	}
	if len(d.ids) == 0 {
		return fail(errors.Errorf("tfrecords %s...: no usable records", files[0]))
	}
	d.classes = classes
	if d.classes == nil {
		d.classes = classesFor(d.labels)
	}
	if opts.Verify {
		bad := verifyImages(d)
		keep := 0
		for i := range d.ids {
			if bad[i] != nil {
				if err := d.bad(&opts, d.names[d.file[i]], "%v", bad[i]); err != nil {
					return fail(err)
				}
				continue
			}
			d.file[keep], d.off[keep], d.size[keep], d.ids[keep], d.labels[keep] = d.file[i], d.off[i], d.size[i], d.ids[i], d.labels[i]
			keep++
		}
		d.file, d.off, d.size, d.ids, d.labels = d.file[:keep], d.off[:keep], d.size[:keep], d.ids[:keep], d.labels[:keep]
		if keep == 0 {
			return fail(errors.Errorf("tfrecords %s...: no image decodes", files[0]))
		}
	}
	if err := checkEmptyClasses(files[0], d, &opts); err != nil {
		return fail(err)
	}
	return d, nil
}

// WriteTFRecords writes ds as shards TFRecord files dir/<prefix><NN>-<count>.tfrec (Kaggle's naming:
// ld_train00-1338.tfrec), image i going to shard i%shards so that each shard has ds's class mix. Each
// record stores the image's original bytes when ds has them (RawImager: files, TFRecords, subsets of
// them), else a quality-95 JPEG; unlabelled images get no target feature. The class names are written
// to dir/label_num_to_disease_map.json so OpenTFRecords reads them back. It returns the file paths.
// progress, when not nil, is called after each image with the number written so far and the total
// (writing all of Cassava takes minutes).
func WriteTFRecords(ds Dataset, dir, prefix string, shards int, progress func(done, total int)) ([]string, error) {
	if shards < 1 {
		return nil, errors.Errorf("WriteTFRecords: shards=%d, must be >= 1", shards)
	}
	if ds.Len() == 0 {
		return nil, errors.New("WriteTFRecords: empty dataset")
	}
	shards = min(shards, ds.Len())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, errors.Wrapf(err, "creating %s", dir)
	}
	var paths []string
	done := 0
	written := func() {
		done++
		if progress != nil {
			progress(done, ds.Len())
		}
	}
	for s := 0; s < shards; s++ {
		count := (ds.Len() - s + shards - 1) / shards
		path := filepath.Join(dir, fmt.Sprintf("%s%02d-%d.tfrec", prefix, s, count))
		if err := writeShard(ds, path, s, shards, written); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, writeLabelMap(filepath.Join(dir, KaggleLabelMap), ds.Classes())
}

func writeShard(ds Dataset, path string, shard, shards int, written func()) error {
	f, err := os.Create(path)
	if err != nil {
		return errors.Wrapf(err, "WriteTFRecords")
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var rec, ex []byte
	for i := shard; i < ds.Len(); i += shards {
		img, err := EncodedImage(ds, i)
		if err != nil {
			f.Close()
			return err
		}
		ex = appendExample(ex[:0], img, ds.ID(i), ds.Label(i))
		rec = appendRecord(rec[:0], ex)
		if _, err := w.Write(rec); err != nil {
			f.Close()
			return errors.Wrapf(err, "writing %s", path)
		}
		written()
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return errors.Wrapf(err, "writing %s", path)
	}
	return errors.Wrapf(f.Close(), "writing %s", path)
}
