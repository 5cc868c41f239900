package augment

// Grey-level weights (ITU-R 601, as torchvision's rgb_to_grayscale and
// tf.image.rgb_to_grayscale).
const (
	greyR = 0.299
	greyG = 0.587
	greyB = 0.114
)

// colourMap is the colour jitter and output scaling of one view folded into
// one affine map with a final clamp, applied to [0,255] RGB:
//
//	u = rgb/255
//	saturation s:  u ← grey(u) + s·(u − grey(u))   (blend with the pixel's grey)
//	contrast c:    u ← mean + c·(u − mean)         (blend with the image's mean grey)
//	brightness d:  u ← u + d                       (additive, TF style)
//	out = clamp(u, 0, 1)·255·mul + add
//
// Clamping once at the end (instead of after each op, as torchvision does)
// is what lets the three fold into one 3x3 matrix applied while the row is
// still in L1 cache; it only differs for pixels an intermediate op pushed out
// of range (TF's contrast and brightness do not clamp either).
type colourMap struct {
	a      [9]float32 // row-major 3x3, applied to [0,255] RGB
	b      [3]float32
	lo, hi [3]float32 // clamp bounds in output units: add and 255·mul+add
}

// newColourMap folds saturation s, contrast c around mean (grey level in
// [0,1]), brightness d and the scaling (mul, add) into one map.
func newColourMap(s, c, d, mean float64, mul, add [3]float32) colourMap {
	w := [3]float64{greyR, greyG, greyB}
	var m colourMap
	for i := range 3 {
		for j := range 3 {
			// Saturation matrix S = s·I + (1−s)·1·wᵀ, then contrast scales it.
			v := (1 - s) * w[j]
			if i == j {
				v += s
			}
			m.a[3*i+j] = float32(c * v * float64(mul[i]))
		}
		m.b[i] = float32(255*((1-c)*mean+d)*float64(mul[i])) + add[i]
		m.lo[i], m.hi[i] = add[i], 255*mul[i]+add[i]
	}
	return m
}

// apply maps one HWC row (or any run of whole pixels) of [0,255] RGB in place.
func (m *colourMap) apply(buf []float32) {
	a, b, lo, hi := m.a, m.b, m.lo, m.hi
	for i := 0; i+2 < len(buf); i += 3 {
		p := buf[i : i+3 : i+3]
		r, g, bl := p[0], p[1], p[2]
		p[0] = min(max(a[0]*r+a[1]*g+a[2]*bl+b[0], lo[0]), hi[0])
		p[1] = min(max(a[3]*r+a[4]*g+a[5]*bl+b[1], lo[1]), hi[1])
		p[2] = min(max(a[6]*r+a[7]*g+a[8]*bl+b[2], lo[2]), hi[2])
	}
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
func cutout(buf []float32, width, height int, holes []Hole, value [3]float32) {
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
