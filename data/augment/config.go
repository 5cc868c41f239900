// Package augment renders one training or evaluation view of an image into a
// float32 HWC RGB buffer at the model resolution.
//
// All geometric steps (random crop, flips, rotation, shear, zoom, shift and the
// final resize) are composed into one affine map from output pixels to source
// pixels, and the image is read with one bilinear pass straight from its
// decoded form (*image.YCbCr from image/jpeg, Gray, RGBA, NRGBA; anything else
// is converted to RGBA first) into 8.8 fixed-point RGB one row at a time;
// colour jitter (saturation, contrast, brightness, folded into one integer
// matrix) and the output scaling are applied to that row while it is in cache,
// and cutout runs last on the float buffer. Nothing allocates per image once
// the per-goroutine scratch exists.
//
// Randomness comes from an RNG the caller derives per image view (see SeedFor):
// the same seed gives the same pixels whatever goroutine renders them.
package augment

import (
	"fmt"
	"math"
)

// Scaling selects how [0, 255] pixel values are mapped into the output buffer.
type Scaling int

const (
	// ScaleUnit maps pixels to [0, 1].
	ScaleUnit Scaling = iota
	// ScaleSigned maps pixels to [-1, 1] (TF/Keras EfficientNet "tf" mode).
	ScaleSigned
	// ScaleImageNet maps pixels to (x/255 - mean) / std with the ImageNet
	// mean/std, what torchvision/timm weights expect.
	ScaleImageNet
	// Scale255 keeps raw [0, 255] values (Keras EfficientNet builds its own
	// normalisation layer and expects this).
	Scale255
)

// ImageNetMean and ImageNetStd are the usual per-channel RGB statistics.
var (
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// String names the scaling for flags and errors.
func (s Scaling) String() string {
	switch s {
	case ScaleUnit:
		return "unit"
	case ScaleSigned:
		return "signed"
	case ScaleImageNet:
		return "imagenet"
	case Scale255:
		return "255"
	}
	return fmt.Sprintf("Scaling(%d)", int(s))
}

// ParseScaling accepts "unit" ([0,1]), "signed" ([-1,1]), "imagenet", "255".
func ParseScaling(s string) (Scaling, error) {
	for _, v := range []Scaling{ScaleUnit, ScaleSigned, ScaleImageNet, Scale255} {
		if v.String() == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("augment: unknown pixel scaling %q (want unit, signed, imagenet or 255)", s)
}

// affine returns per-channel (mul, add) so that out = v·mul + add for v in
// [0, 255].
func (s Scaling) affine() (mul, add [3]float32) {
	for c := range 3 {
		switch s {
		case ScaleUnit:
			mul[c], add[c] = 1.0/255, 0
		case ScaleSigned:
			mul[c], add[c] = 2.0/255, -1
		case ScaleImageNet:
			mul[c], add[c] = 1/(255*ImageNetStd[c]), -ImageNetMean[c]/ImageNetStd[c]
		case Scale255:
			mul[c], add[c] = 1, 0
		}
	}
	return
}

// Resize says how the source is fitted to the output when no random crop is
// drawn (always, for evaluation).
type Resize int

const (
	// ResizeStretch maps the whole source onto the output, changing the
	// aspect ratio (tf.image.resize to 512x512, as the article's TFRecords).
	ResizeStretch Resize = iota
	// ResizeCentreCrop takes the largest centred region with the output's
	// aspect ratio, times CentreFraction per side, then resizes it
	// (torchvision Resize+CenterCrop for evaluation).
	ResizeCentreCrop
)

// Fill says what the sampler reads outside the source image (rotations and
// shears expose the corners).
type Fill int

const (
	// FillEdge repeats the nearest border pixel (the article's
	// transform_batch clips its gather indices, which is the same).
	FillEdge Fill = iota
	// FillConstant writes FillValue (in [0,1] pixel units, before scaling).
	FillConstant
)

// Op is one random operation: it fires with probability Prob and then draws
// its parameter uniformly from [Min, Max] (for flips only Prob is used).
type Op struct {
	Prob     float64
	Min, Max float64
}

// Config describes one view's augmentation. The zero value of an Op means
// "never applied". Default and Eval build the usual configurations.
//
// Defaults (Default(size)), chosen after the article's TPU notebook (Kaggle
// Cassava SupCon: tf.image shear/rotation, flips, random/central crop, pixel
// jitter, coarse dropout) and its transform_batch-style affine:
//
//	op          prob  range                       article
//	crop        0.70  area [0.36,1], aspect 3/4..4/3  random crop of 60-100% side, central crop .5-.8
//	flip H      0.50  -                           tf.image.random_flip_left_right
//	flip V      0.50  -                           tf.image.random_flip_up_down
//	rotation    0.80  uniform ±180°               ±45° (p .8) plus rot90 k=1..3 (p .75); leaves have no up
//	shear       0.50  uniform ±15° (x-shear)      ±20° (p .8); 15° is gentler with the ±180 rotation
//	zoom        0.50  factor [0.9, 1.1]           transform_batch zoom ~1±N/8..10
//	shift       0.50  ±8% of the side per axis    transform_batch shift 8..16 px at 256-512
//	saturation  0.60  factor [0.7, 1.3]           random_saturation(.7, 1.3) at p .6
//	contrast    0.60  factor [0.8, 1.2]           random_contrast(.8, 1.2) at p .6
//	brightness  0.60  additive delta ±0.1         random_brightness(.1) at p .6 (additive, TF style)
//	cutout      0.50  1-4 holes, side 10-20%      coarse dropout (black squares)
//	fill        edge                              gather with clipped indices
//	scaling     ImageNet mean/std                 torchvision/timm EfficientNet-B3 weights
type Config struct {
	Width, Height int // output resolution (default 512x512)

	Resize         Resize
	CentreFraction float64 // ResizeCentreCrop only; 0 means 1

	// Crop is a RandomResizedCrop: Min/Max bound the crop's area as a fraction
	// of the source area; the aspect ratio (crop width/height in source pixels)
	// is log-uniform in [AspectMin, AspectMax].
	Crop                 Op
	AspectMin, AspectMax float64

	FlipH, FlipV Op
	Rotate       Op // degrees, counter-clockwise
	Shear        Op // degrees of x-shear
	Zoom         Op // scale factor, > 1 enlarges
	Shift        Op // fraction of the output side, per axis

	Saturation Op // factor: 0 grey, 1 unchanged
	Contrast   Op // factor about the mean grey level
	Brightness Op // additive, in [0,1] pixel units

	Cutout               Op // Min/Max: hole side as a fraction of the output's smaller side
	CutoutMin, CutoutMax int
	CutoutValue          float64 // in [0,1] pixel units, before scaling (0: black)

	Fill      Fill
	FillValue float64 // FillConstant only, [0,1] pixel units; colour jitter applies to it like any pixel

	Scaling Scaling
}

// Eval returns the configuration for evaluation: no randomness, the whole
// image stretched to size x size, ImageNet scaling.
func Eval(size int) Config {
	return Config{Width: size, Height: size, Scaling: ScaleImageNet}
}

// Default returns the training augmentation documented on Config.
func Default(size int) Config {
	c := Eval(size)
	c.Crop = Op{0.7, 0.36, 1}
	c.AspectMin, c.AspectMax = 3.0/4, 4.0/3
	c.FlipH = Op{Prob: 0.5}
	c.FlipV = Op{Prob: 0.5}
	c.Rotate = Op{0.8, -180, 180}
	c.Shear = Op{0.5, -15, 15}
	c.Zoom = Op{0.5, 0.9, 1.1}
	c.Shift = Op{0.5, -0.08, 0.08}
	c.Saturation = Op{0.6, 0.7, 1.3}
	c.Contrast = Op{0.6, 0.8, 1.2}
	c.Brightness = Op{0.6, -0.1, 0.1}
	c.Cutout = Op{0.5, 0.1, 0.2}
	c.CutoutMin, c.CutoutMax = 1, 4
	return c
}

// maxHoles bounds CutoutMax so Params needs no allocation.
const maxHoles = 16

// Validate reports the first nonsensical setting.
func (c *Config) Validate() error {
	if c.Width <= 0 || c.Height <= 0 || c.Width > 1<<14 || c.Height > 1<<14 {
		return fmt.Errorf("augment: output size %dx%d must be in 1..16384", c.Width, c.Height)
	}
	ops := []struct {
		name string
		op   Op
		lo   float64 // smallest allowed Min
		hi   float64 // largest allowed Max
	}{
		{"crop", c.Crop, 1e-6, 1},
		{"flipH", c.FlipH, math.Inf(-1), math.Inf(1)},
		{"flipV", c.FlipV, math.Inf(-1), math.Inf(1)},
		{"rotate", c.Rotate, -360, 360},
		{"shear", c.Shear, -80, 80},
		{"zoom", c.Zoom, 1e-3, 1e3},
		{"shift", c.Shift, -1, 1},
		{"saturation", c.Saturation, 0, 100},
		{"contrast", c.Contrast, 0, 100},
		{"brightness", c.Brightness, -1, 1},
		{"cutout", c.Cutout, 0, 1},
	}
	for _, o := range ops {
		if !(o.op.Prob >= 0 && o.op.Prob <= 1) {
			return fmt.Errorf("augment: %s probability %g is not in [0,1]", o.name, o.op.Prob)
		}
		if o.op.Prob == 0 || o.name == "flipH" || o.name == "flipV" {
			continue
		}
		if !(o.op.Min <= o.op.Max) || o.op.Min < o.lo || o.op.Max > o.hi {
			return fmt.Errorf("augment: %s range [%g, %g] is not inside [%g, %g] or is reversed", o.name, o.op.Min, o.op.Max, o.lo, o.hi)
		}
	}
	if c.Crop.Prob > 0 && !(c.AspectMin > 0 && c.AspectMin <= c.AspectMax && c.AspectMax < 1e3) {
		return fmt.Errorf("augment: crop aspect range [%g, %g] must be positive and ordered", c.AspectMin, c.AspectMax)
	}
	if c.Cutout.Prob > 0 && (c.CutoutMin < 1 || c.CutoutMax < c.CutoutMin || c.CutoutMax > maxHoles) {
		return fmt.Errorf("augment: cutout hole count [%d, %d] must be ordered within 1..%d", c.CutoutMin, c.CutoutMax, maxHoles)
	}
	if c.Resize != ResizeStretch && c.Resize != ResizeCentreCrop {
		return fmt.Errorf("augment: unknown resize mode %d", c.Resize)
	}
	if c.CentreFraction < 0 || c.CentreFraction > 1 {
		return fmt.Errorf("augment: centre fraction %g is not in (0,1]", c.CentreFraction)
	}
	if !(c.FillValue >= 0 && c.FillValue <= 1) || !(c.CutoutValue >= 0 && c.CutoutValue <= 1) {
		return fmt.Errorf("augment: fill value %g and cutout value %g must be in [0,1]", c.FillValue, c.CutoutValue)
	}
	if c.Fill != FillEdge && c.Fill != FillConstant {
		return fmt.Errorf("augment: unknown fill mode %d", c.Fill)
	}
	if c.Scaling < ScaleUnit || c.Scaling > Scale255 {
		return fmt.Errorf("augment: unknown scaling %d", c.Scaling)
	}
	return nil
}
