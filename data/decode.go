package data

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"

	"github.com/pkg/errors"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// MaxPixels bounds width*height of an image before its pixels are decoded. The decoders allocate the
// whole image from the header's dimensions, so without a bound a corrupt (or hostile) 40-byte header
// claiming 60000x60000 pixels would allocate gigabytes. Cassava photos are 800x600; 64 Mpixel leaves
// ample room for any real photo.
var MaxPixels = 1 << 26

// ImageFormat is what the content of an encoded image is, found by its magic bytes (never by the file name).
type ImageFormat string

const (
	FormatUnknown ImageFormat = ""
	FormatJPEG    ImageFormat = "jpeg"
	FormatPNG     ImageFormat = "png"
	FormatGIF     ImageFormat = "gif"
	FormatBMP     ImageFormat = "bmp"
	FormatWebP    ImageFormat = "webp"
	FormatTIFF    ImageFormat = "tiff"
)

// SniffFormat names the image format of the encoded bytes b by their magic number.
func SniffFormat(b []byte) ImageFormat {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return FormatJPEG
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		return FormatPNG
	case len(b) >= 6 && (string(b[:6]) == "GIF87a" || string(b[:6]) == "GIF89a"):
		return FormatGIF
	case len(b) >= 2 && b[0] == 'B' && b[1] == 'M':
		return FormatBMP
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return FormatWebP
	case len(b) >= 4 && (string(b[:4]) == "II*\x00" || string(b[:4]) == "MM\x00*"):
		return FormatTIFF
	}
	return FormatUnknown
}

// codec is one format's header reader and decoder.
type codec struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

// codecs are the decoders by format. WebP and TIFF are there because images saved from the web or
// from scanners and microscopes come that way, often under a .jpg name.
var codecs = map[ImageFormat]codec{
	FormatJPEG: {jpeg.DecodeConfig, jpeg.Decode},
	FormatPNG:  {png.DecodeConfig, png.Decode},
	FormatGIF:  {gif.DecodeConfig, gif.Decode},
	FormatBMP:  {bmp.DecodeConfig, bmp.Decode},
	FormatWebP: {webp.DecodeConfig, webp.Decode},
	FormatTIFF: {tiff.DecodeConfig, tiff.Decode},
}

// DecodeBytes decodes an encoded image by its content (JPEG, PNG, GIF, BMP, WebP, TIFF), whatever the
// file is called. name is only used in error messages (a file path or a record id).
//
// The concrete type of the result is one of:
//   - *image.YCbCr: colour JPEGs (baseline or progressive, any chroma subsampling), returned exactly
//     as decoded, because converting 800x600 photos to RGBA up front costs more than the augmentation
//     that samples from them;
//   - *image.Gray: grayscale JPEGs and 8-bit gray PNGs (Fashion-MNIST too);
//   - *image.RGBA: CMYK/YCCK JPEGs, paletted images (GIF, palette PNG), 16-bit PNGs, BMPs, TIFFs, lossy
//     WebPs (see webpToRGBA): all converted to RGB here, as they are rare and a single representation keeps the
//     consumers simple;
//   - *image.NRGBA: PNGs and lossless WebPs with non-premultiplied alpha, as decoded (the alpha channel
//     is to be ignored).
//
// All four expose colours through At(x,y).RGBA(); consumers wanting speed switch on the concrete type.
// The header is read first, so that an image over MaxPixels is refused before its pixels are allocated.
func DecodeBytes(name string, b []byte) (image.Image, error) {
	if len(b) == 0 {
		return nil, errors.Errorf("image %s: empty (zero bytes)", name)
	}
	format := SniffFormat(b)
	c, ok := codecs[format]
	if !ok {
		if len(b) >= 12 && string(b[4:8]) == "ftyp" {
			// Phones save HEIC photos, often renamed .jpg; say what it is rather than "unknown".
			return nil, errors.Errorf("image %s: HEIC/AVIF (ISO media %q) is not supported: convert it to JPEG or PNG", name, b[8:12])
		}
		return nil, errors.Errorf("image %s: unknown image format (first bytes % x): not JPEG, PNG, GIF, BMP, WebP or TIFF", name, b[:min(len(b), 8)])
	}
	cfg, err := c.config(bytes.NewReader(b))
	if err != nil {
		return nil, errors.Errorf("image %s: corrupt or truncated %s header: %v", name, format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, errors.Errorf("image %s: %s has empty size %dx%d", name, format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(MaxPixels) {
		return nil, errors.Errorf("image %s: %s of %dx%d pixels is over the limit of data.MaxPixels=%d", name, format, cfg.Width, cfg.Height, MaxPixels)
	}
	img, err := c.decode(bytes.NewReader(b))
	if err != nil {
		return nil, errors.Errorf("image %s: corrupt or truncated %s: %v", name, format, err)
	}
	if format == FormatWebP {
		img = webpToRGBA(img)
	}
	return normalize(img), nil
}

// webpToRGBA converts a lossy WebP's planes to RGB. VP8 stores BT.601 limited-range ("studio swing",
// luma 16..235) YCbCr, but x/image/webp hands the planes out as an image.YCbCr, which Go and our
// sampler read as JPEG's full range: white would come out as 235, black as 16 (golang/go#40173).
// Chroma is taken at the sample covering each pixel (as YCbCr.At does); alpha is ignored as for
// every format. Lossless WebPs (NRGBA) are returned unchanged.
func webpToRGBA(img image.Image) image.Image {
	var yc *image.YCbCr
	switch m := img.(type) {
	case *image.YCbCr:
		yc = m
	case *image.NYCbCrA:
		yc = &m.YCbCr
	default:
		return img
	}
	r := yc.Rect
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	to8 := func(v float64) uint8 { return uint8(min(max(v+0.5, 0), 255)) }
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			yi, ci := yc.YOffset(x, y), yc.COffset(x, y)
			// BT.601 limited range to RGB.
			l := 1.164383 * (float64(yc.Y[yi]) - 16)
			cb, cr := float64(yc.Cb[ci])-128, float64(yc.Cr[ci])-128
			o := out.PixOffset(x-r.Min.X, y-r.Min.Y)
			out.Pix[o+0] = to8(l + 1.596027*cr)
			out.Pix[o+1] = to8(l - 0.391762*cb - 0.812968*cr)
			out.Pix[o+2] = to8(l + 2.017232*cb)
			out.Pix[o+3] = 255
		}
	}
	return out
}

// DecodeFile reads and decodes the image file at path; see DecodeBytes for the result types.
func DecodeFile(path string) (image.Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.Errorf("image %s: %v", path, unwrapPathError(err))
	}
	return DecodeBytes(path, b)
}

// unwrapPathError drops the path an *os.PathError repeats, as our messages already start with it.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// normalize keeps the fast, common representations and converts everything else to *image.RGBA.
func normalize(img image.Image) image.Image {
	switch img.(type) {
	case *image.YCbCr, *image.Gray, *image.RGBA, *image.NRGBA:
		return img
	}
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	return rgba
}
