package data

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"

	"github.com/pkg/errors"
	"golang.org/x/image/bmp"
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
	}
	return FormatUnknown
}

// DecodeBytes decodes an encoded image by its content (JPEG, PNG, GIF, BMP), whatever the file is
// called. name is only used in error messages (a file path or a record id).
//
// The concrete type of the result is one of:
//   - *image.YCbCr: colour JPEGs (baseline or progressive, any chroma subsampling), returned exactly as
//     the JPEG decoder produced them, because converting 800x600 photos to RGBA up front costs more than
//     the augmentation that samples from them;
//   - *image.Gray: grayscale JPEGs and 8-bit gray PNGs (Fashion-MNIST too);
//   - *image.RGBA: CMYK/YCCK JPEGs, paletted images (GIF, palette PNG), 16-bit PNGs, BMPs: all converted
//     to RGB here, as they are rare and a single representation keeps the consumers simple;
//   - *image.NRGBA: PNGs with non-premultiplied alpha, as decoded (the alpha channel is to be ignored).
//
// All four expose colours through At(x,y).RGBA(); consumers wanting speed switch on the concrete type.
func DecodeBytes(name string, b []byte) (image.Image, error) {
	if len(b) == 0 {
		return nil, errors.Errorf("image %s: empty (zero bytes)", name)
	}
	format := SniffFormat(b)
	var (
		cfg image.Config
		err error
	)
	switch format {
	case FormatJPEG:
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(b))
	case FormatPNG:
		cfg, err = png.DecodeConfig(bytes.NewReader(b))
	case FormatGIF:
		cfg, err = gif.DecodeConfig(bytes.NewReader(b))
	case FormatBMP:
		cfg, err = bmp.DecodeConfig(bytes.NewReader(b))
	default:
		return nil, errors.Errorf("image %s: unknown image format (first bytes % x): not JPEG, PNG, GIF or BMP", name, b[:min(len(b), 8)])
	}
	if err != nil {
		return nil, errors.Errorf("image %s: corrupt or truncated %s header: %v", name, format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, errors.Errorf("image %s: %s has empty size %dx%d", name, format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(MaxPixels) {
		return nil, errors.Errorf("image %s: %s of %dx%d pixels is over the limit of data.MaxPixels=%d", name, format, cfg.Width, cfg.Height, MaxPixels)
	}
	var img image.Image
	switch format {
	case FormatJPEG:
		img, err = jpeg.Decode(bytes.NewReader(b))
	case FormatPNG:
		img, err = png.Decode(bytes.NewReader(b))
	case FormatGIF:
		img, err = gif.Decode(bytes.NewReader(b))
	case FormatBMP:
		img, err = bmp.Decode(bytes.NewReader(b))
	}
	if err != nil {
		return nil, errors.Errorf("image %s: corrupt or truncated %s: %v", name, format, err)
	}
	return normalize(img), nil
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
