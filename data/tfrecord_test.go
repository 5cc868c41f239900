package data

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// exampleDescriptor builds tensorflow.Example from TensorFlow's example.proto / feature.proto (transcribed
// field by field), so the protobuf library's own encoder and decoder can check our hand-rolled wire code.
func exampleDescriptor(t testing.TB) protoreflect.MessageDescriptor {
	t.Helper()
	s := proto.String
	field := func(name string, num int32, label descriptorpb.FieldDescriptorProto_Label, typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: s(name), Number: proto.Int32(num), Label: label.Enum(), Type: typ.Enum()}
		if typeName != "" {
			f.TypeName = s(typeName)
		}
		return f
	}
	rep, opt := descriptorpb.FieldDescriptorProto_LABEL_REPEATED, descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
	msg := descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	oneof := func(f *descriptorpb.FieldDescriptorProto) *descriptorpb.FieldDescriptorProto {
		f.OneofIndex = proto.Int32(0)
		return f
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name: s("tensorflow/core/example/example.proto"), Package: s("tensorflow"), Syntax: s("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: s("BytesList"), Field: []*descriptorpb.FieldDescriptorProto{field("value", 1, rep, descriptorpb.FieldDescriptorProto_TYPE_BYTES, "")}},
			{Name: s("FloatList"), Field: []*descriptorpb.FieldDescriptorProto{field("value", 1, rep, descriptorpb.FieldDescriptorProto_TYPE_FLOAT, "")}},
			{Name: s("Int64List"), Field: []*descriptorpb.FieldDescriptorProto{field("value", 1, rep, descriptorpb.FieldDescriptorProto_TYPE_INT64, "")}},
			{Name: s("Feature"), OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: s("kind")}}, Field: []*descriptorpb.FieldDescriptorProto{
				oneof(field("bytes_list", 1, opt, msg, ".tensorflow.BytesList")),
				oneof(field("float_list", 2, opt, msg, ".tensorflow.FloatList")),
				oneof(field("int64_list", 3, opt, msg, ".tensorflow.Int64List")),
			}},
			{Name: s("Features"),
				Field: []*descriptorpb.FieldDescriptorProto{field("feature", 1, rep, msg, ".tensorflow.Features.FeatureEntry")},
				NestedType: []*descriptorpb.DescriptorProto{{
					Name:    s("FeatureEntry"),
					Field:   []*descriptorpb.FieldDescriptorProto{field("key", 1, opt, descriptorpb.FieldDescriptorProto_TYPE_STRING, ""), field("value", 2, opt, msg, ".tensorflow.Feature")},
					Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
				}}},
			{Name: s("Example"), Field: []*descriptorpb.FieldDescriptorProto{field("features", 1, opt, msg, ".tensorflow.Features")}},
		},
	}
	fd, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Messages().ByName("Example")
}

func TestExampleEncodingMatchesProtobuf(t *testing.T) {
	md := exampleDescriptor(t)
	img := []byte("\xff\xd8\xff fake jpeg \x00\x01")
	// Ours -> protobuf library.
	for _, target := range []int{3, -1} {
		msg := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(appendExample(nil, img, "abc.jpg", target), msg); err != nil {
			t.Fatalf("the protobuf library cannot parse our Example: %v", err)
		}
		js, err := protojson.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Features struct {
				Feature map[string]struct {
					BytesList *struct{ Value [][]byte }
					Int64List *struct{ Value []string }
				}
			}
		}
		if err := json.Unmarshal(js, &got); err != nil {
			t.Fatal(err)
		}
		f := got.Features.Feature
		if f["image"].BytesList == nil || !reflect.DeepEqual(f["image"].BytesList.Value, [][]byte{img}) {
			t.Errorf("image feature: %s", js)
		}
		if f["image_name"].BytesList == nil || string(f["image_name"].BytesList.Value[0]) != "abc.jpg" {
			t.Errorf("image_name feature: %s", js)
		}
		_, hasTarget := f["target"]
		if target >= 0 && (f["target"].Int64List == nil || !reflect.DeepEqual(f["target"].Int64List.Value, []string{"3"})) {
			t.Errorf("target feature: %s", js)
		}
		if target < 0 && hasTarget {
			t.Errorf("unlabelled Example has a target: %s", js)
		}
	}
	// Protobuf library -> ours, with extra features of all kinds that must be ignored.
	b64 := base64.StdEncoding.EncodeToString
	js := fmt.Sprintf(`{"features": {"feature": {
		"width": {"int64List": {"value": ["800"]}},
		"image": {"bytesList": {"value": [%q]}},
		"score": {"floatList": {"value": [0.5, 1.5]}},
		"image_name": {"bytesList": {"value": [%q]}},
		"target": {"int64List": {"value": ["4"]}}}}}`, b64(img), b64([]byte("x/y.jpg")))
	msg := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal([]byte(js), msg); err != nil {
		t.Fatal(err)
	}
	for _, deterministic := range []bool{false, true} {
		b, err := proto.MarshalOptions{Deterministic: deterministic}.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := parseExample(b)
		if err != nil {
			t.Fatal(err)
		}
		if !ex.hasImage || !bytes.Equal(b[ex.imageOff:ex.imageOff+ex.imageLen], img) || ex.name != "x/y.jpg" || !ex.hasTarget || ex.target != 4 {
			t.Errorf("parsed %+v", ex)
		}
	}
}

// writeShards writes ds as n shards into a new directory and returns it and the shard files.
func writeShards(t *testing.T, ds Dataset, n int) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	files, err := WriteTFRecords(ds, dir, "ld_train", n, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dir, files
}

func TestTFRecordRoundTripKeepsOriginalBytes(t *testing.T) {
	src := tinySynthetic(t)
	kdir := t.TempDir()
	if err := WriteKaggle(src, kdir); err != nil {
		t.Fatal(err)
	}
	kaggle, err := OpenKaggle(kdir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, files := writeShards(t, kaggle, 3)
	// 14 images over 3 shards: 5, 5, 4, named as Kaggle's shards are.
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if want := []string{"ld_train00-5.tfrec", "ld_train01-5.tfrec", "ld_train02-4.tfrec"}; !reflect.DeepEqual(names, want) {
		t.Errorf("shards %q, want %q", names, want)
	}
	ds, err := OpenTFRecords(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.(interface{ Close() error }).Close()
	sameContent(t, src, ds)
	for i := 0; i < ds.Len(); i++ {
		raw, err := ds.(RawImager).RawImage(i)
		if err != nil {
			t.Fatal(err)
		}
		file, err := os.ReadFile(filepath.Join(kdir, KaggleImages, ds.ID(i)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, file) {
			t.Errorf("%s: the record does not hold the original JPEG bytes", ds.ID(i))
		}
	}
}

func TestTFRecordUnlabelled(t *testing.T) {
	src := tinySynthetic(t)
	dir := t.TempDir()
	if err := WriteKaggle(src, dir); err != nil {
		t.Fatal(err)
	}
	test, err := OpenUnlabelled(filepath.Join(dir, KaggleImages), CassavaClasses, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, files := writeShards(t, test, 1)
	ds, err := OpenTFRecords(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < ds.Len(); i++ {
		if ds.Label(i) != -1 {
			t.Fatalf("%s: label %d, want -1 (no target feature)", ds.ID(i), ds.Label(i))
		}
	}
}

// recordOffsets returns the byte offset of each record of a TFRecord file.
func recordOffsets(t *testing.T, b []byte) []int {
	t.Helper()
	var offs []int
	err := scanTFRecords(bytes.NewReader(b), "x", func(_ int, off int64, _ []byte) error {
		offs = append(offs, int(off)-12)
		return nil
	}, func(where, reason string) error { return errors.New(where + reason) })
	if err != nil {
		t.Fatal(err)
	}
	return offs
}

func TestTFRecordBadInput(t *testing.T) {
	src := tinySynthetic(t)
	cases := []struct {
		name    string
		corrupt func(b []byte, offs []int) []byte
		want    string
		left    int // images left with SkipBad, of the shard's 7
	}{
		{"data CRC", func(b []byte, offs []int) []byte { b[offs[1]+40] ^= 1; return b }, "record 1 (byte offset", 6},
		{"data CRC message", func(b []byte, offs []int) []byte { b[offs[2]+40] ^= 1; return b }, "bad CRC of the record data", 6},
		{"length CRC", func(b []byte, offs []int) []byte { b[offs[3]+1] ^= 1; return b }, "bad CRC of the record length", 3},
		{"truncated data", func(b []byte, offs []int) []byte { return b[:len(b)-10] }, "truncated record", 6},
		{"truncated header", func(b []byte, offs []int) []byte { return b[:offs[6]+5] }, "truncated record header (5 of 12 bytes)", 6},
		{"not a tfrecord", func(b []byte, offs []int) []byte { return []byte("image_id,label\na.jpg,0\n") }, "bad CRC of the record length", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, files := writeShards(t, src, 2)
			b, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(files[0], c.corrupt(b, recordOffsets(t, b)), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = OpenTFRecords(files, Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), files[0]) {
				t.Fatalf("error %v should name %s and say %q", err, files[0], c.want)
			}
			var logged int
			ds, err := OpenTFRecords(files, Options{SkipBad: true, Logf: func(string, ...any) { logged++ }, AllowEmptyClasses: true})
			if err != nil {
				t.Fatalf("SkipBad: %v", err)
			}
			if want := c.left + 7; ds.Len() != want || logged != 1 || len(ds.(Skipper).Skipped()) != 1 {
				t.Errorf("SkipBad: %d images (want %d), %d logged, skips %v", ds.Len(), want, logged, ds.(Skipper).Skipped())
			}
			_ = dir
		})
	}
}

func TestTFRecordBadLabelsAndDuplicates(t *testing.T) {
	src := tinySynthetic(t)
	dir, files := writeShards(t, src, 1)
	// A 3-class label map: targets 3 and 4 are out of range.
	if err := writeLabelMap(filepath.Join(dir, KaggleLabelMap), []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenTFRecords(files, Options{}); err == nil || !strings.Contains(err.Error(), "out of range [0, 3)") {
		t.Errorf("error %v should report a target out of range", err)
	}
	ds, err := OpenTFRecords(files, Options{SkipBad: true, Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	if want := src.Len() - 4 - 3; ds.Len() != want || !reflect.DeepEqual(ds.Classes(), []string{"a", "b", "c"}) {
		t.Errorf("%d images, classes %q; want %d of a,b,c", ds.Len(), ds.Classes(), want)
	}
	// The same records twice: duplicate image names.
	dir, files = writeShards(t, src, 1)
	again, err := WriteTFRecords(src, dir, "copy", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenTFRecords(append(files, again...), Options{}); err == nil || !strings.Contains(err.Error(), "duplicate image_name") {
		t.Errorf("error %v should report a duplicate", err)
	}
	if _, err := OpenTFRecords([]string{filepath.Join(dir, "missing.tfrec")}, Options{}); err == nil || !strings.Contains(err.Error(), "missing.tfrec") {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzTFRecord: any bytes give records or errors naming the file and record, never a panic.
func FuzzTFRecord(f *testing.F) {
	var stream []byte
	for i, name := range []string{"a.jpg", "b.jpg"} {
		stream = appendRecord(stream, appendExample(nil, []byte{0xff, 0xd8, 0xff, byte(i)}, name, i))
	}
	f.Add(stream)
	f.Add(stream[:len(stream)-3])
	flipped := append([]byte(nil), stream...)
	flipped[20] ^= 0x10
	f.Add(flipped)
	f.Add(appendRecord(nil, []byte{0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01})) // framing fine, Example truncated
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = scanTFRecords(bytes.NewReader(b), "fuzz.tfrec", func(_ int, _ int64, data []byte) error {
			ex, err := parseExample(data)
			if err == nil && ex.hasImage && ex.imageOff+ex.imageLen > len(data) {
				t.Errorf("image bytes [%d, +%d) outside the %d-byte record", ex.imageOff, ex.imageLen, len(data))
			}
			return err
		}, func(where, reason string) error {
			if !strings.Contains(where, "fuzz.tfrec") {
				t.Errorf("error location %q does not name the file", where)
			}
			return nil // keep going, as SkipBad does
		})
	})
}

// brokenImage wraps a dataset, giving image `broken` truncated JPEG bytes.
type brokenImage struct {
	Dataset
	broken int
}

func (b brokenImage) RawImage(i int) ([]byte, error) {
	raw, err := EncodedImage(b.Dataset, i)
	if i == b.broken {
		raw = raw[:len(raw)/2]
	}
	return raw, err
}

func TestTFRecordVerifyFindsCorruptImages(t *testing.T) {
	src := tinySynthetic(t)
	_, files := writeShards(t, brokenImage{src, 3}, 2)
	ds, err := OpenTFRecords(files, Options{})
	if err != nil {
		t.Fatalf("the framing is fine, only the JPEG is bad: %v", err)
	}
	j := -1
	for i := 0; i < ds.Len(); i++ {
		if ds.ID(i) == src.ID(3) {
			j = i
		}
	}
	if _, err := ds.Image(j); err == nil || !strings.Contains(err.Error(), src.ID(3)) || !strings.Contains(err.Error(), "ld_train01") {
		t.Errorf("decoding the truncated image: error %v should name the shard and the image", err)
	}
	if _, err := OpenTFRecords(files, Options{Verify: true}); err == nil || !strings.Contains(err.Error(), src.ID(3)) {
		t.Errorf("Verify: error %v should name %s", err, src.ID(3))
	}
	ds, err = OpenTFRecords(files, Options{Verify: true, SkipBad: true, Logf: func(string, ...any) {}})
	if err != nil || ds.Len() != src.Len()-1 || len(ds.(Skipper).Skipped()) != 1 {
		t.Errorf("Verify+SkipBad: %v, want one image dropped", err)
	}
	for i := 0; i < ds.Len(); i++ {
		if _, err := ds.Image(i); err != nil {
			t.Errorf("after Verify, image %s: %v", ds.ID(i), err)
		}
	}
}

// TestConcurrentImages reads every image from several goroutines at once (run with -race): the
// datasets promise safe concurrent use, which the pipeline's decoding workers rely on.
func TestConcurrentImages(t *testing.T) {
	src := tinySynthetic(t)
	dir := t.TempDir()
	if err := WriteKaggle(src, dir); err != nil {
		t.Fatal(err)
	}
	kaggle, err := OpenKaggle(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, files := writeShards(t, kaggle, 2)
	tf, err := OpenTFRecords(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range []Dataset{src, kaggle, tf} {
		done := make(chan error)
		for w := 0; w < 4; w++ {
			go func() {
				for i := 0; i < ds.Len(); i++ {
					if _, err := ds.Image((i + w*3) % ds.Len()); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
		}
		for w := 0; w < 4; w++ {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
}

// Known answers from outside this package: the RFC 3720 (B.4) CRC32C of 32 zero bytes, and the masked
// CRC that the tfrecord_slow Python package's tests assert for "1234567890asdfghjkl".
func TestMaskedCRCKnownAnswers(t *testing.T) {
	if got := crc32.Checksum(make([]byte, 32), crc32c); got != 0x8a9136aa {
		t.Errorf("CRC32C of 32 zeros: %#x, want 0x8a9136aa", got)
	}
	if got := maskedCRC([]byte("1234567890asdfghjkl")); got != 4134599430 {
		t.Errorf("masked CRC: %d, want 4134599430", got)
	}
}

func TestWriteTFRecordsProgress(t *testing.T) {
	src := tinySynthetic(t)
	var calls []int
	if _, err := WriteTFRecords(src, t.TempDir(), "ld_train", 3, func(done, total int) {
		if total != src.Len() {
			t.Errorf("progress total %d, want %d", total, src.Len())
		}
		calls = append(calls, done)
	}); err != nil {
		t.Fatal(err)
	}
	if len(calls) != src.Len() || calls[len(calls)-1] != src.Len() {
		t.Errorf("progress called with %v, want 1..%d", calls, src.Len())
	}
	for i, done := range calls {
		if done != i+1 {
			t.Fatalf("progress call %d reported %d written", i, done)
		}
	}
}
