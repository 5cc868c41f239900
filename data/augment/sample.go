package augment

import (
	"fmt"
	"image"
	"image/draw"
	"math"
)

// Fixed-point layout of sampling coordinates: 32 fractional bits while
// stepping along a row (so the per-column increment accumulates no visible
// error over 16k columns), 10 bits of bilinear weight (interpolation error
// below a quarter level even between black and white neighbours, while
// lerp2's products stay inside int32).
const (
	fracBits   = 32
	weightBits = 10
	one        = 1 << weightBits
	// maxCoord bounds |source coordinate| so int64 fixed point cannot overflow.
	maxCoord = 1 << 30
)

// split returns the integer part and the bilinear weight of a
// fixed-point index-space coordinate.
func split(v int64) (int32, int32) {
	return int32(v >> fracBits), int32(v>>(fracBits-weightBits)) & (one - 1)
}

// Each per-type row loop below finds a pixel's bilinear footprint the same
// way: the top-left source pixel (x0, y0), relative to the image's Rect.Min,
// and the weights fx, fy in 0..1024 of its right and lower neighbours, which
// always exist (thinner images go through sampleThin). The interior test and
// split are written inline in each loop (a helper returning all five values
// is over the inlining budget and costs a call per pixel); border points go
// through borderTap. The loops are deliberate twins: one generic walk calling
// a per-type tap method was measured 35% slower on the YCbCr evaluation pass
// (4.7 -> 6.5 ms per 512x512 view), as Go calls a type parameter's method
// through its dictionary instead of inlining it.
//
// borderTap handles a point within one pixel of the border or outside the
// image. The image's extent is [-0.5, w-0.5] in index space; inside it the
// nearest border pixels are repeated; outside it FillConstant writes the fill
// value and FillEdge keeps repeating the border. The last pixel is reached as
// the full-weight neighbour of the one before it, so taps never leave the
// image.
func borderTap(x, y, xmax, ymax int64, fill Fill) (x0, y0, fx, fy int32, ok bool) {
	const half = int64(1) << (fracBits - 1)
	if fill == FillConstant && (x < -half || y < -half || x > xmax+half || y > ymax+half) {
		return 0, 0, 0, 0, false
	}
	axis := func(v, vmax int64) (int32, int32) {
		switch {
		case v <= 0:
			return 0, 0
		case v >= vmax:
			return int32(vmax>>fracBits) - 1, one
		}
		return split(v)
	}
	x0, fx = axis(x, xmax)
	y0, fy = axis(y, ymax)
	return x0, y0, fx, fy, true
}

// rowWalk is one output row's walk through index space: start point and
// per-column step (fixed point) and the interior limits.
type rowWalk struct {
	x, y, dx, dy, xmax, ymax int64
	fill                     Fill
}

// lerp2 interpolates four 8-bit samples; the result carries 2·weightBits
// fractional bits.
func lerp2(a, b, c, d, fx, fy int32) int32 {
	top := a<<weightBits + (b-a)*fx
	bot := c<<weightBits + (d-c)*fx
	return top<<weightBits + (bot-top)*fy
}

// sampler holds the per-goroutine scratch of the sampling pass.
type sampler struct {
	rgba    *image.RGBA // conversion target for image types without a fast path
	row     []int32     // one row of 8.8 fixed-point RGB
	frow    []float32   // one finished row, before bfloat16 conversion
	fin     finisher
	preview []float32 // small render used to estimate the mean grey level
}

// sample renders the source through m (output continuous coordinates to
// source continuous coordinates relative to the image's Rect.Min) into dst,
// an HWC RGB buffer of width x height.
//
// Each row is first sampled as 8.8 fixed-point RGB into a small scratch row
// (in L1 cache), then fin turns it into output floats (colour jitter, scaling).
// When dst is nil the output goes to dst16 as bfloat16 bits instead, each
// row converted while in cache.
func (s *sampler) sample(dst []float32, dst16 []uint16, width, height int, img image.Image, m Affine, fill Fill, fillValue float64, fin *finisher) error {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return fmt.Errorf("augment: empty image %v", b)
	}
	if n := max(len(dst), len(dst16)); n != width*height*3 || (dst != nil) == (dst16 != nil) {
		return fmt.Errorf("augment: output buffer has %d values, want one buffer of %dx%dx3", n, width, height)
	}
	for _, cx := range []float64{0, float64(width)} {
		for _, cy := range []float64{0, float64(height)} {
			x, y := m.Apply(cx, cy)
			if !(math.Abs(x) < maxCoord && math.Abs(y) < maxCoord) {
				return fmt.Errorf("augment: output corner (%g,%g) maps to (%g,%g), too far outside the source", cx, cy, x, y)
			}
		}
	}
	if w < 2 || h < 2 {
		return s.sampleThin(dst, dst16, width, height, img, m, fill, fillValue, fin)
	}
	f := int32(math.Round(min(max(fillValue, 0), 1) * 255 * 256))
	fill8 := [3]int32{f, f, f}
	if cap(s.row) < 3*width {
		s.row = make([]int32, 3*width)
	}
	row := s.row[:3*width]
	if dst16 != nil && cap(s.frow) < 3*width {
		s.frow = make([]float32, 3*width)
	}
	// Index space: pixel i's centre sits at integer i.
	const scale = 1 << fracBits
	dx, dy := int64(math.Round(m[0]*scale)), int64(math.Round(m[3]*scale))
	rows := func(do func(r rowWalk)) {
		for v := range height {
			x, y := m.Apply(0.5, float64(v)+0.5)
			do(rowWalk{int64(math.Round((x - 0.5) * scale)), int64(math.Round((y - 0.5) * scale)), dx, dy,
				int64(w-1) << fracBits, int64(h-1) << fracBits, fill})
			if dst != nil {
				fin.row(dst[v*width*3:(v+1)*width*3], row)
			} else {
				frow := s.frow[:3*width]
				fin.row(frow, row)
				ToBFloat16(dst16[v*width*3:(v+1)*width*3], frow)
			}
		}
	}
	switch src := img.(type) {
	case *image.YCbCr:
		hs, vs, ok := chromaShifts(src.SubsampleRatio)
		if ok && b.Min.X >= 0 && b.Min.Y >= 0 {
			rows(func(r rowWalk) { ycbcrRow(row, r, src, hs, vs, fill8) })
			return nil
		}
	case *image.Gray:
		rows(func(r rowWalk) { grayRow(row, r, src.Pix, src.Stride, fill8) })
		return nil
	case *image.RGBA:
		rows(func(r rowWalk) { rgbaRow(row, r, src.Pix, src.Stride, fill8) })
		return nil
	case *image.NRGBA:
		// Colour channels as stored: photos are opaque, and alpha is ignored.
		rows(func(r rowWalk) { rgbaRow(row, r, src.Pix, src.Stride, fill8) })
		return nil
	}
	// Any other type (CMYK, Paletted, 16-bit...): convert once to RGBA in
	// reused scratch (image/draw has fast converters for the common ones) and
	// sample that, rather than paying an interface call and an allocation per
	// tap through At().
	if s.rgba == nil || cap(s.rgba.Pix) < 4*w*h {
		s.rgba = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	s.rgba.Pix, s.rgba.Stride, s.rgba.Rect = s.rgba.Pix[:4*w*h], 4*w, image.Rect(0, 0, w, h)
	draw.Draw(s.rgba, s.rgba.Rect, img, b.Min, draw.Src)
	return s.sample(dst, dst16, width, height, s.rgba, m, fill, fillValue, fin)
}

// sampleThin samples an image one pixel wide or tall (a 1x1 thumbnail, a
// 1-pixel strip), which the row loops cannot read as they need a 2x2
// footprint. Along such an axis the image is constant, so it is doubled there
// (every pixel repeated) and the map stretched to match: bilinear reads of the
// doubled image give exactly the colours of the thin one, with the same
// extent for the fill. Such images are rare and small, so the copy is cheap.
func (s *sampler) sampleThin(dst []float32, dst16 []uint16, width, height int, img image.Image, m Affine, fill Fill, fillValue float64, fin *finisher) error {
	b := img.Bounds()
	kx, ky := 1, 1
	if b.Dx() < 2 {
		kx = 2
	}
	if b.Dy() < 2 {
		ky = 2
	}
	wide := image.NewRGBA(image.Rect(0, 0, b.Dx()*kx, b.Dy()*ky))
	for y := range wide.Rect.Dy() {
		for x := range wide.Rect.Dx() {
			wide.Set(x, y, img.At(b.Min.X+x/kx, b.Min.Y+y/ky))
		}
	}
	return s.sample(dst, dst16, width, height, wide, m.Then(Scale(float64(kx), float64(ky))), fill, fillValue, fin)
}

// chromaShifts returns log2 of the horizontal and vertical chroma subsampling.
func chromaShifts(r image.YCbCrSubsampleRatio) (hs, vs uint, ok bool) {
	switch r {
	case image.YCbCrSubsampleRatio444:
		return 0, 0, true
	case image.YCbCrSubsampleRatio422:
		return 1, 0, true
	case image.YCbCrSubsampleRatio420:
		return 1, 1, true
	case image.YCbCrSubsampleRatio440:
		return 0, 1, true
	case image.YCbCrSubsampleRatio411:
		return 2, 0, true
	case image.YCbCrSubsampleRatio410:
		return 2, 1, true
	}
	return 0, 0, false
}

// ycbcrRow interpolates Y, Cb and Cr separately and converts once per output
// pixel to 8.8 fixed-point RGB, clamped without branches. The JFIF conversion
// is affine, so this equals converting each tap and then interpolating, except
// where a tap's RGB would have been clipped. Chroma is read at the chroma
// sample covering each luma tap, as YCbCr.At does.
func ycbcrRow(dst []int32, r rowWalk, src *image.YCbCr, hs, vs uint, fill [3]int32) {
	Y, Cb, Cr := src.Y, src.Cb, src.Cr
	ys, cs := src.YStride, src.CStride
	mx, my := int32(src.Rect.Min.X), int32(src.Rect.Min.Y)
	cmx, cmy := mx>>hs, my>>vs
	ok := true
	for i := 0; i+2 < len(dst); i += 3 {
		o := dst[i : i+3 : i+3]
		var x0, y0, fx, fy int32
		if uint64(r.x) < uint64(r.xmax) && uint64(r.y) < uint64(r.ymax) {
			x0, fx = split(r.x)
			y0, fy = split(r.y)
		} else if x0, y0, fx, fy, ok = borderTap(r.x, r.y, r.xmax, r.ymax, r.fill); !ok {
			o[0], o[1], o[2] = fill[0], fill[1], fill[2]
			r.x += r.dx
			r.y += r.dy
			continue
		}
		r.x += r.dx
		r.y += r.dy
		r0 := int(y0) * ys
		r1 := r0 + ys
		k := int(x0)
		yv := lerp2(int32(Y[r0+k]), int32(Y[r0+k+1]), int32(Y[r1+k]), int32(Y[r1+k+1]), fx, fy)
		c0 := int((y0+my)>>vs-cmy) * cs
		c1 := int((y0+1+my)>>vs-cmy) * cs
		k0 := int((x0+mx)>>hs - cmx)
		k1 := int((x0+1+mx)>>hs - cmx)
		cb := lerp2(int32(Cb[c0+k0]), int32(Cb[c0+k1]), int32(Cb[c1+k0]), int32(Cb[c1+k1]), fx, fy)
		cr := lerp2(int32(Cr[c0+k0]), int32(Cr[c0+k1]), int32(Cr[c1+k0]), int32(Cr[c1+k1]), fx, fy)
		// 8 fractional bits: Y in [0, 255·256], chroma centred on 0.
		yv >>= 2*weightBits - 8
		cb = cb>>(2*weightBits-8) - 128<<8
		cr = cr>>(2*weightBits-8) - 128<<8
		// JFIF coefficients ·2^14: 1.402, 0.344136, 0.714136, 1.772.
		o[0] = clampFix(yv + (22970*cr)>>14)
		o[1] = clampFix(yv - (5638*cb+11700*cr)>>14)
		o[2] = clampFix(yv + (29032*cb)>>14)
	}
}

// clampFix clamps an 8.8 fixed-point value to [0, 255·256]; written so the
// compiler emits conditional moves.
func clampFix(v int32) int32 {
	v &^= v >> 31
	if v > 255<<8 {
		v = 255 << 8
	}
	return v
}

func grayRow(dst []int32, r rowWalk, pix []uint8, stride int, fill [3]int32) {
	ok := true
	for i := 0; i+2 < len(dst); i += 3 {
		o := dst[i : i+3 : i+3]
		var x0, y0, fx, fy int32
		if uint64(r.x) < uint64(r.xmax) && uint64(r.y) < uint64(r.ymax) {
			x0, fx = split(r.x)
			y0, fy = split(r.y)
		} else if x0, y0, fx, fy, ok = borderTap(r.x, r.y, r.xmax, r.ymax, r.fill); !ok {
			o[0], o[1], o[2] = fill[0], fill[1], fill[2]
			r.x += r.dx
			r.y += r.dy
			continue
		}
		r.x += r.dx
		r.y += r.dy
		r0 := int(y0) * stride
		r1, k := r0+stride, int(x0)
		v := lerp2(int32(pix[r0+k]), int32(pix[r0+k+1]), int32(pix[r1+k]), int32(pix[r1+k+1]), fx, fy) >> (2*weightBits - 8)
		o[0], o[1], o[2] = v, v, v
	}
}

// rgbaRow reads the first three bytes of 4-byte pixels (RGBA and NRGBA).
func rgbaRow(dst []int32, r rowWalk, pix []uint8, stride int, fill [3]int32) {
	ok := true
	for i := 0; i+2 < len(dst); i += 3 {
		o := dst[i : i+3 : i+3]
		var x0, y0, fx, fy int32
		if uint64(r.x) < uint64(r.xmax) && uint64(r.y) < uint64(r.ymax) {
			x0, fx = split(r.x)
			y0, fy = split(r.y)
		} else if x0, y0, fx, fy, ok = borderTap(r.x, r.y, r.xmax, r.ymax, r.fill); !ok {
			o[0], o[1], o[2] = fill[0], fill[1], fill[2]
			r.x += r.dx
			r.y += r.dy
			continue
		}
		r.x += r.dx
		r.y += r.dy
		a := int(y0)*stride + 4*int(x0)
		p00, p01 := pix[a:a+3:a+3], pix[a+4:a+7:a+7]
		p10, p11 := pix[a+stride:a+stride+3:a+stride+3], pix[a+stride+4:a+stride+7:a+stride+7]
		for c := range 3 {
			o[c] = lerp2(int32(p00[c]), int32(p01[c]), int32(p10[c]), int32(p11[c]), fx, fy) >> (2*weightBits - 8)
		}
	}
}
