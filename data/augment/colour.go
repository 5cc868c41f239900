package augment

import "math"

// Grey-level weights (ITU-R 601, as torchvision's rgb_to_grayscale and
// tf.image.rgb_to_grayscale).
const (
	greyR = 0.299
	greyG = 0.587
	greyB = 0.114
)

// finisher turns rows of 8.8 fixed-point [0,255] RGB (the sampler's output)
// into output floats: optional colour jitter, then the output scaling.
//
// The jitter, for u = rgb/255:
//
//	saturation s:  u ← grey(u) + s·(u − grey(u))   (blend with the pixel's grey)
//	contrast c:    u ← mean + c·(u − mean)         (blend with the view's mean grey)
//	brightness d:  u ← u + d                       (additive, TF style)
//	u ← clamp(u, 0, 1)
//
// Clamping once at the end (instead of after each op, as torchvision does)
// lets the three fold into one 3x3 integer matrix; it only differs for pixels
// an intermediate op pushed out of range (TF's contrast and brightness do not
// clamp either).
type finisher struct {
	mul, add [3]float32 // out = v·mul + add for v in 8.8 fixed point
	jitter   bool
	a        [9]int64 // row-major colour matrix ·2^14
	b        [3]int64 // offsets, 8.8 ·2^14
}

// colourBits is the fixed-point precision of the colour matrix.
const colourBits = 14

// newFinisher returns the finisher for scaling sc and, when jitter is set,
// saturation s, contrast c around mean (grey level in [0,1]) and brightness d.
func newFinisher(sc Scaling, jitter bool, s, c, d, mean float64) finisher {
	f := finisher{jitter: jitter}
	mul, add := sc.affine()
	for i := range 3 {
		f.mul[i], f.add[i] = mul[i]/256, add[i]
	}
	if !jitter {
		return f
	}
	w := [3]float64{greyR, greyG, greyB}
	for i := range 3 {
		for j := range 3 {
			// Saturation matrix S = s·I + (1−s)·1·wᵀ, then contrast scales it.
			v := (1 - s) * w[j]
			if i == j {
				v += s
			}
			f.a[3*i+j] = int64(math.Round(c * v * (1 << colourBits)))
		}
		f.b[i] = int64(math.Round(255 * 256 * ((1-c)*mean + d) * (1 << colourBits)))
	}
	return f
}

// row converts one row (or any run of whole pixels).
func (f *finisher) row(dst []float32, src []int32) {
	dst = dst[:len(src)]
	m0, m1, m2, a0, a1, a2 := f.mul[0], f.mul[1], f.mul[2], f.add[0], f.add[1], f.add[2]
	if !f.jitter {
		for i := 0; i+2 < len(src); i += 3 {
			p, o := src[i:i+3:i+3], dst[i:i+3:i+3]
			o[0] = float32(p[0])*m0 + a0
			o[1] = float32(p[1])*m1 + a1
			o[2] = float32(p[2])*m2 + a2
		}
		return
	}
	a, b := f.a, f.b
	for i := 0; i+2 < len(src); i += 3 {
		p, o := src[i:i+3:i+3], dst[i:i+3:i+3]
		r, g, bl := int64(p[0]), int64(p[1]), int64(p[2])
		o[0] = float32(clampFix64((a[0]*r+a[1]*g+a[2]*bl+b[0])>>colourBits))*m0 + a0
		o[1] = float32(clampFix64((a[3]*r+a[4]*g+a[5]*bl+b[1])>>colourBits))*m1 + a1
		o[2] = float32(clampFix64((a[6]*r+a[7]*g+a[8]*bl+b[2])>>colourBits))*m2 + a2
	}
}

// clampFix64 clamps to [0, 255·256] (conditional moves, no branches).
func clampFix64(v int64) int32 {
	v &^= v >> 63
	if v > 255<<8 {
		v = 255 << 8
	}
	return int32(v)
}

// meanGrey returns the mean grey level of an HWC buffer of [0,1] RGB.
func meanGrey(buf []float32) float64 {
	var sum float64
	for i := 0; i+2 < len(buf); i += 3 {
		sum += float64(greyR*buf[i] + greyG*buf[i+1] + greyB*buf[i+2])
	}
	return sum / float64(max(1, len(buf)/3))
}

// cutout fills the holes (output pixel rectangles) of an HWC buffer with the
// given (already scaled) colour. Holes are clipped to the buffer, so
// hand-built Params cannot write outside it.
func cutout[T float32 | uint16](buf []T, width, height int, holes []Hole, value [3]T) {
	for _, h := range holes {
		x0, x1 := max(h.X0, 0), min(h.X1, width)
		for y := max(h.Y0, 0); y < min(h.Y1, height) && x0 < x1; y++ {
			row := buf[(y*width+x0)*3 : (y*width+x1)*3]
			for i := 0; i+2 < len(row); i += 3 {
				row[i], row[i+1], row[i+2] = value[0], value[1], value[2]
			}
		}
	}
}

// BFloat16 returns the bfloat16 bits of f, rounded to nearest, ties to even
// (what XLA and torch do when casting float32 to bfloat16). NaNs stay NaN
// (quiet), infinities stay infinite.
func BFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep sign and top payload, force quiet
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// ToBFloat16 converts src into dst (at least as long) with BFloat16.
func ToBFloat16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = BFloat16(v)
	}
}
