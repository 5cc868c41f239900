package augment

import (
	"fmt"
	"math"
)

// Rect is an axis-aligned rectangle [X0, X0+W) × [Y0, Y0+H) in continuous
// pixel coordinates.
type Rect struct{ X0, Y0, W, H float64 }

// Hole is one cutout square in output pixels [X0, X1) × [Y0, Y1).
type Hole struct{ X0, Y0, X1, Y1 int }

// Params are the drawn values of one view. Draw fills them from an RNG; tests
// and tools may also build them by hand. Neutral values: Zoom 1, Saturation 1,
// Contrast 1, everything else 0/false.
type Params struct {
	Crop         Rect // region of the source that is resized onto the output
	FlipH, FlipV bool
	Rotate       float64 // degrees, counter-clockwise
	Shear        float64 // degrees of x-shear
	Zoom         float64
	ShiftX       float64 // output pixels
	ShiftY       float64

	Saturation, Contrast, Brightness float64

	NumHoles int
	Holes    [maxHoles]Hole
}

// Neutral returns parameters that only resize the source rectangle crop.
func Neutral(crop Rect) Params {
	return Params{Crop: crop, Zoom: 1, Saturation: 1, Contrast: 1}
}

// baseCrop is the source region used when no random crop fires.
func (c *Config) baseCrop(srcW, srcH int) Rect {
	w, h := float64(srcW), float64(srcH)
	if c.Resize == ResizeStretch {
		return Rect{0, 0, w, h}
	}
	frac := c.CentreFraction
	if frac == 0 {
		frac = 1
	}
	want := float64(c.Width) / float64(c.Height)
	cw, ch := w, w/want
	if ch > h {
		cw, ch = h*want, h
	}
	cw, ch = cw*frac, ch*frac
	return Rect{(w - cw) / 2, (h - ch) / 2, cw, ch}
}

// Draw picks the random parameters of one view of a srcW x srcH image. Every
// op consumes the same number of draws whether it fires or not, so changing
// one probability does not reshuffle the others.
func (c *Config) Draw(rng *RNG, srcW, srcH int) Params {
	p := Neutral(c.baseCrop(srcW, srcH))
	// uni draws both the firing decision and the value, always.
	uni := func(o Op) (bool, float64) {
		fire := rng.Bool(o.Prob)
		v := rng.Uniform(o.Min, o.Max)
		return fire, v
	}
	if fire, area := uni(c.Crop); fire {
		aspect := rng.LogUniform(c.AspectMin, c.AspectMax)
		sw, sh := float64(srcW), float64(srcH)
		a := area * sw * sh
		cw, ch := math.Min(math.Sqrt(a*aspect), sw), math.Min(math.Sqrt(a/aspect), sh)
		p.Crop = Rect{rng.Float64() * (sw - cw), rng.Float64() * (sh - ch), cw, ch}
	} else {
		rng.LogUniform(1, 2)
		rng.Float64()
		rng.Float64()
	}
	// set draws op o and, when it fires, stores its value in *v (else *v keeps its neutral value).
	set := func(o Op, v *float64) {
		if fire, x := uni(o); fire {
			*v = x
		}
	}
	p.FlipH = rng.Bool(c.FlipH.Prob)
	p.FlipV = rng.Bool(c.FlipV.Prob)
	set(c.Rotate, &p.Rotate)
	set(c.Shear, &p.Shear)
	set(c.Zoom, &p.Zoom)
	fire, sx := uni(c.Shift)
	sy := rng.Uniform(c.Shift.Min, c.Shift.Max)
	if fire {
		p.ShiftX, p.ShiftY = sx*float64(c.Width), sy*float64(c.Height)
	}
	set(c.Saturation, &p.Saturation)
	set(c.Contrast, &p.Contrast)
	set(c.Brightness, &p.Brightness)
	fire, _ = uni(c.Cutout)
	n := rng.IntRange(c.CutoutMin, c.CutoutMax)
	small := min(c.Width, c.Height)
	for i := range maxHoles {
		side := int(math.Round(rng.Uniform(c.Cutout.Min, c.Cutout.Max) * float64(small)))
		side = max(1, min(side, small))
		x0 := int(rng.Float64() * float64(c.Width-side+1))
		y0 := int(rng.Float64() * float64(c.Height-side+1))
		if fire && i < n {
			p.Holes[i] = Hole{x0, y0, x0 + side, y0 + side}
			p.NumHoles = n
		}
	}
	return p
}

// Forward is the geometric map in output pixel space applied after the crop
// has been resized to width x height: flips, then rotation, shear, zoom (all
// about the output centre), then the shift. This is the order tests replay
// step by step.
func (p *Params) Forward(width, height int) Affine {
	m := Identity()
	if p.FlipH {
		m = m.Then(Scale(-1, 1))
	}
	if p.FlipV {
		m = m.Then(Scale(1, -1))
	}
	if p.Rotate != 0 {
		m = m.Then(Rotate(p.Rotate))
	}
	if p.Shear != 0 {
		m = m.Then(ShearX(p.Shear))
	}
	if p.Zoom != 1 {
		m = m.Then(Scale(p.Zoom, p.Zoom))
	}
	m = m.About(float64(width)/2, float64(height)/2)
	return m.Then(Translate(p.ShiftX, p.ShiftY))
}

// SourceMap returns the map from an output continuous coordinate to the
// source continuous coordinate it reads: the inverse of Forward followed by
// the inverse of "resize Crop onto width x height".
func (p *Params) SourceMap(width, height int) (Affine, error) {
	if !(p.Crop.W > 0 && p.Crop.H > 0) {
		return Affine{}, fmt.Errorf("augment: empty crop %+v", p.Crop)
	}
	inv, err := p.Forward(width, height).Invert()
	if err != nil {
		return Affine{}, err
	}
	cropToSrc := Scale(p.Crop.W/float64(width), p.Crop.H/float64(height)).Then(Translate(p.Crop.X0, p.Crop.Y0))
	return inv.Then(cropToSrc), nil
}
