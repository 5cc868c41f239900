package data

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// quadrantColours is the 32x24 pattern of the fixtures made by testdata/gen_jpeg_fixtures.sh:
// top-left, top-right, bottom-left, bottom-right.
var quadrantColours = [4]color.RGBA{{220, 30, 30, 255}, {30, 200, 40, 255}, {30, 40, 210, 255}, {240, 240, 240, 255}}

func quadrantImage() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for y := 0; y < 24; y++ {
		for x := 0; x < 32; x++ {
			img.SetRGBA(x, y, quadrantColours[boolInt(y >= 12)*2+boolInt(x >= 16)])
		}
	}
	return img
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkQuadrants checks the colour at each quadrant's centre against want (gray: compare luma), within tol.
func checkQuadrants(t *testing.T, name string, img image.Image, gray bool, tol int) {
	t.Helper()
	if img.Bounds().Dx() != 32 || img.Bounds().Dy() != 24 {
		t.Fatalf("%s: size %v, want 32x24", name, img.Bounds())
	}
	centres := [4]image.Point{{8, 6}, {24, 6}, {8, 18}, {24, 18}}
	for q, p := range centres {
		r, g, b, _ := img.At(p.X, p.Y).RGBA()
		got := [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
		w := quadrantColours[q]
		want := [3]int{int(w.R), int(w.G), int(w.B)}
		if gray {
			l := int(0.299*float64(w.R) + 0.587*float64(w.G) + 0.114*float64(w.B) + 0.5)
			want = [3]int{l, l, l}
		}
		for c := 0; c < 3; c++ {
			if d := got[c] - want[c]; d > tol || d < -tol {
				t.Errorf("%s: quadrant %d at %v: got RGB %v, want %v (±%d)", name, q, p, got, want, tol)
				break
			}
		}
	}
}

func encodeWith(t *testing.T, enc func(*bytes.Buffer, image.Image) error, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := enc(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jpegBytes(t *testing.T, img image.Image) []byte {
	return encodeWith(t, func(b *bytes.Buffer, im image.Image) error { return jpeg.Encode(b, im, &jpeg.Options{Quality: 95}) }, img)
}

func TestDecodeFormatsByContent(t *testing.T) {
	src := quadrantImage()
	paletted := image.NewPaletted(src.Bounds(), color.Palette{quadrantColours[0], quadrantColours[1], quadrantColours[2], quadrantColours[3]})
	for y := 0; y < 24; y++ {
		for x := 0; x < 32; x++ {
			paletted.Set(x, y, src.At(x, y))
		}
	}
	cases := []struct {
		name     string
		data     []byte
		wantType string
		gray     bool
		tol      int
	}{
		{"baseline.jpg", jpegBytes(t, src), "*image.YCbCr", false, 12},
		{"png-named.jpg", encodeWith(t, func(b *bytes.Buffer, im image.Image) error { return png.Encode(b, im) }, src), "*image.RGBA", false, 0},
		{"gif-named.jpg", encodeWith(t, func(b *bytes.Buffer, im image.Image) error { return gif.Encode(b, im, nil) }, paletted), "*image.RGBA", false, 0},
		{"bmp-named.jpg", encodeWith(t, func(b *bytes.Buffer, im image.Image) error { return bmp.Encode(b, im) }, src), "*image.RGBA", false, 0},
		{"tiff-named.jpg", encodeWith(t, func(b *bytes.Buffer, im image.Image) error { return tiff.Encode(b, im, nil) }, src), "*image.RGBA", false, 0},
	}
	for _, name := range []string{"progressive.jpg", "grayscale.jpg", "cmyk.jpg", "lossless.webp", "lossy.webp"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		typ := map[string]string{"progressive.jpg": "*image.YCbCr", "grayscale.jpg": "*image.Gray", "cmyk.jpg": "*image.RGBA",
			"lossless.webp": "*image.NRGBA", "lossy.webp": "*image.RGBA"}[name]
		cases = append(cases, struct {
			name     string
			data     []byte
			wantType string
			gray     bool
			tol      int
		}{name + " named .jpg", b, typ, name == "grayscale.jpg", 14})
	}
	for _, c := range cases {
		img, err := DecodeBytes(c.name, c.data)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := typeName(img); got != c.wantType {
			t.Errorf("%s: decoded as %s, want %s", c.name, got, c.wantType)
		}
		checkQuadrants(t, c.name, img, c.gray, c.tol)
	}
}

func typeName(img image.Image) string {
	switch img.(type) {
	case *image.YCbCr:
		return "*image.YCbCr"
	case *image.Gray:
		return "*image.Gray"
	case *image.RGBA:
		return "*image.RGBA"
	case *image.NRGBA:
		return "*image.NRGBA"
	}
	return "other"
}

func TestDecodeBadInput(t *testing.T) {
	noisy := image.NewGray(image.Rect(0, 0, 200, 150)) // noise, so the entropy-coded data dominates the file
	for i := range noisy.Pix {
		noisy.Pix[i] = uint8(i * 7919 % 251)
	}
	good := jpegBytes(t, noisy)
	corrupt := append([]byte(nil), good...)
	for i := len(corrupt) / 2; i < len(corrupt)-2; i++ {
		corrupt[i] = 0xFF // a run of marker bytes inside the entropy-coded data
	}
	// A decompression bomb: a small JPEG whose frame header claims 60000x60000 pixels.
	bomb := append([]byte(nil), good...)
	if sof := bytes.Index(bomb, []byte{0xFF, 0xC0}); sof < 0 {
		t.Fatal("no SOF0 marker in the encoded JPEG")
	} else {
		binary.BigEndian.PutUint16(bomb[sof+5:], 60000) // height
		binary.BigEndian.PutUint16(bomb[sof+7:], 60000) // width
	}
	cases := []struct {
		name, data, want string
	}{
		{"bomb.jpg", string(bomb), "60000x60000 pixels is over the limit"},
		{"empty.jpg", "", "empty (zero bytes)"},
		{"text.jpg", "hello, not an image", "unknown image format"},
		{"iphone.jpg", "\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", `HEIC/AVIF (ISO media "heic") is not supported`},
		{"truncated.jpg", string(good[:len(good)/2]), "corrupt or truncated jpeg"},
		{"header-only.jpg", string(good[:20]), "corrupt or truncated jpeg header"},
		{"corrupt.jpg", string(corrupt), "jpeg"},
		{"huge.png", string(pngHeader(100000, 100000)), "over the limit"},
		{"zero-size.png", string(pngHeader(0, 10)), "png"},
	}
	for _, c := range cases {
		_, err := DecodeBytes(c.name, []byte(c.data))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.name) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q should name the file and say %q", c.name, err, c.want)
		}
	}
	missing := filepath.Join(t.TempDir(), "missing.jpg")
	if _, err := DecodeFile(missing); err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: error %v should name %s and say it does not exist", err, missing)
	}
}

// pngHeader is a PNG signature and IHDR chunk declaring w x h RGB pixels, and nothing else.
func pngHeader(w, h uint32) []byte {
	var ihdr []byte
	ihdr = append(ihdr, "IHDR"...)
	ihdr = binary.BigEndian.AppendUint32(ihdr, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	b := []byte("\x89PNG\r\n\x1a\n")
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

// FuzzDecode: whatever the bytes, DecodeBytes returns an image or an error naming the input, never
// panics. The default test run only runs the seeds.
func FuzzDecode(f *testing.F) {
	img := quadrantImage()
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, img, nil)
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:buf.Len()/3])
	buf.Reset()
	_ = png.Encode(&buf, img)
	f.Add(buf.Bytes())
	f.Add(pngHeader(1<<20, 1<<20))
	for _, name := range []string{"progressive.jpg", "grayscale.jpg", "cmyk.jpg", "lossless.webp", "lossy.webp"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
			f.Add(b[:len(b)*2/3])
		}
	}
	buf.Reset()
	_ = tiff.Encode(&buf, img, nil)
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:buf.Len()/2])
	f.Add([]byte{})
	f.Add([]byte("GIF89a"))
	f.Add([]byte("BM"))
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := DecodeBytes("fuzz.jpg", b)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.jpg") {
				t.Errorf("error %q does not name the input", err)
			}
			return
		}
		if img.Bounds().Empty() {
			t.Errorf("decoded an empty image without error")
		}
		switch img.(type) {
		case *image.YCbCr, *image.Gray, *image.RGBA, *image.NRGBA:
		default:
			t.Errorf("decoded to %T, not one of the documented types", img)
		}
	})
}

// readPNM parses the binary PPM (P6) or PGM (P5) that djpeg writes.
func readPNM(t *testing.T, b []byte) image.Image {
	t.Helper()
	// Four whitespace-separated tokens (magic, width, height, maxval), then one whitespace byte.
	var tok []string
	pos := 0
	space := func(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }
	for len(tok) < 4 && pos < len(b) {
		for pos < len(b) && space(b[pos]) {
			pos++
		}
		start := pos
		for pos < len(b) && !space(b[pos]) {
			pos++
		}
		tok = append(tok, string(b[start:pos]))
	}
	if len(tok) != 4 || tok[3] != "255" {
		t.Fatalf("bad PNM header %q", tok)
	}
	magic := tok[0]
	w, err1 := strconv.Atoi(tok[1])
	h, err2 := strconv.Atoi(tok[2])
	if err1 != nil || err2 != nil {
		t.Fatalf("bad PNM size %q", tok)
	}
	pix := b[pos+1:]
	switch magic {
	case "P5":
		return &image.Gray{Pix: pix[:w*h], Stride: w, Rect: image.Rect(0, 0, w, h)}
	case "P6":
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := 0; i < w*h; i++ {
			copy(img.Pix[4*i:4*i+3], pix[3*i:3*i+3])
			img.Pix[4*i+3] = 255
		}
		return img
	}
	t.Fatalf("unexpected PNM type %s", magic)
	return nil
}

// TestDecodeMatchesLibjpeg compares our decoding with libjpeg's djpeg, an independent decoder, on the
// fixtures and, when present, the real Cassava sample photos. -nosmooth makes djpeg upsample chroma by
// replication as Go does, so the remaining difference is IDCT rounding.
func TestDecodeMatchesLibjpeg(t *testing.T) {
	djpeg, err := exec.LookPath("djpeg")
	if err != nil {
		t.Skip("djpeg not installed (Debian libjpeg-turbo-progs)")
	}
	files := []string{filepath.Join("testdata", "progressive.jpg"), filepath.Join("testdata", "grayscale.jpg")}
	sample, _ := filepath.Glob(filepath.Join("..", "..", "shared", "data", "cassava-sample", KaggleImages, "*.jpg"))
	if len(sample) > 3 {
		sample = sample[:3]
	}
	files = append(files, sample...)
	for _, f := range files {
		ref, err := exec.Command(djpeg, "-nosmooth", "-dct", "int", "-pnm", f).Output()
		if err != nil {
			t.Fatalf("djpeg %s: %v", f, err)
		}
		want := readPNM(t, ref)
		got, err := DecodeFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if d := meanAbsDiff(t, want, got); d > 1.5 {
			t.Errorf("%s: differs from libjpeg by %.2f levels per channel on average", f, d)
		} else {
			t.Logf("%s: %v, mean difference from libjpeg %.3f", f, got.Bounds().Size(), d)
		}
	}
}
