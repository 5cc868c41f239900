package augment

import (
	"encoding/json"
	"image"
	"image/color"
	"math"
	"os"
	"testing"
)

// render renders img with hand-built params at w x h, raw [0,255] values.
func render(t *testing.T, img image.Image, p Params, w, h int, fill Fill) []float32 {
	t.Helper()
	cfg := Eval(w)
	cfg.Height, cfg.Scaling, cfg.Fill = h, Scale255, fill
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, a.Len())
	if err := a.Render(dst, img, &p); err != nil {
		t.Fatal(err)
	}
	return dst
}

func full(img image.Image) Rect {
	b := img.Bounds()
	return Rect{0, 0, float64(b.Dx()), float64(b.Dy())}
}

// marker returns an n x n black RGBA image with one white pixel at (x, y).
func marker(n, x, y int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	img.Set(x, y, color.White)
	return img
}

// whitePixels lists the output pixels brighter than half scale.
func whitePixels(buf []float32, w int) [][2]int {
	var out [][2]int
	for i := 0; i < len(buf); i += 3 {
		if buf[i] > 127 {
			out = append(out, [2]int{(i / 3) % w, (i / 3) / w})
		}
	}
	return out
}

func TestFlipsAndRotate90MoveKnownPixel(t *testing.T) {
	const n, x, y = 16, 3, 5
	img := marker(n, x, y)
	cases := []struct {
		name   string
		set    func(*Params)
		wx, wy int
	}{
		{"identity", func(*Params) {}, x, y},
		{"flipH", func(p *Params) { p.FlipH = true }, n - 1 - x, y},
		{"flipV", func(p *Params) { p.FlipV = true }, x, n - 1 - y},
		// Counter-clockwise on screen, as numpy's rot90: (x, y) → (y, n-1-x).
		{"rotate90", func(p *Params) { p.Rotate = 90 }, y, n - 1 - x},
		{"rotate-90", func(p *Params) { p.Rotate = -90 }, n - 1 - y, x},
		{"rotate180", func(p *Params) { p.Rotate = 180 }, n - 1 - x, n - 1 - y},
	}
	for _, c := range cases {
		p := Neutral(full(img))
		c.set(&p)
		got := whitePixels(render(t, img, p, n, n, FillConstant), n)
		if len(got) != 1 || got[0] != [2]int{c.wx, c.wy} {
			t.Errorf("%s: white pixels at %v, want only (%d,%d)", c.name, got, c.wx, c.wy)
		}
	}
}

func TestCropResizeOfGradient(t *testing.T) {
	// Red = x, green = 2y: crop x∈[64,192), y∈[10,74) onto 64x32, so output
	// pixel u reads source x = 64 + 2(u+0.5) - 0.5 and v reads y = 10 + 2(v+0.5) - 0.5.
	img := image.NewRGBA(image.Rect(0, 0, 256, 100))
	for y := range 100 {
		for x := range 256 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(2 * y), 0, 255})
		}
	}
	p := Neutral(Rect{64, 10, 128, 64})
	out := render(t, img, p, 64, 32, FillEdge)
	for v := range 32 {
		for u := range 64 {
			wantR := 64 + 2*(float64(u)+0.5) - 0.5
			wantG := 2 * (10 + 2*(float64(v)+0.5) - 0.5)
			o := out[(v*64+u)*3:]
			if math.Abs(float64(o[0])-wantR) > 0.02 || math.Abs(float64(o[1])-wantG) > 0.02 {
				t.Fatalf("pixel (%d,%d) = (%g,%g), want (%g,%g)", u, v, o[0], o[1], wantR, wantG)
			}
		}
	}
}

// TestIdentityMatchesNumpyBilinear compares the plain resize with
// testdata/bilinear_ref.py's numpy implementation.
func TestIdentityMatchesNumpyBilinear(t *testing.T) {
	raw, err := os.ReadFile("testdata/bilinear_ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Width, Height int
		OutWidth      int `json:"out_width"`
		OutH          int `json:"out_height"`
		Pixels        []uint8
		Resized       []float64
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, ref.Width, ref.Height))
	for i := range ref.Width * ref.Height {
		copy(img.Pix[4*i:], ref.Pixels[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	out := render(t, img, Neutral(full(img)), ref.OutWidth, ref.OutH, FillEdge)
	if len(out) != len(ref.Resized) {
		t.Fatalf("got %d values, reference has %d", len(out), len(ref.Resized))
	}
	worst := 0.0
	for i, v := range out {
		worst = max(worst, math.Abs(float64(v)-ref.Resized[i]))
	}
	// 10-bit weights: under 255/1024 per axis even across a 0/255 edge.
	if worst > 0.5 {
		t.Errorf("max |ours - numpy| = %g levels, want <= 0.5", worst)
	}
}

// refSample is a naive float64 bilinear sampler through At(), the definition
// the fast per-type paths must agree with.
func refSample(img image.Image, m Affine, w, h int) []float64 {
	b := img.Bounds()
	out := make([]float64, w*h*3)
	px := func(x, y int) [3]float64 {
		x = min(max(x, 0), b.Dx()-1)
		y = min(max(y, 0), b.Dy()-1)
		r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		return [3]float64{float64(r) / 257, float64(g) / 257, float64(bl) / 257}
	}
	for v := range h {
		for u := range w {
			x, y := m.Apply(float64(u)+0.5, float64(v)+0.5)
			x, y = x-0.5, y-0.5
			x0, y0 := math.Floor(x), math.Floor(y)
			fx, fy := x-x0, y-y0
			a, bb, c, d := px(int(x0), int(y0)), px(int(x0)+1, int(y0)), px(int(x0), int(y0)+1), px(int(x0)+1, int(y0)+1)
			for k := range 3 {
				top := a[k]*(1-fx) + bb[k]*fx
				bot := c[k]*(1-fx) + d[k]*fx
				out[(v*w+u)*3+k] = top*(1-fy) + bot*fy
			}
		}
	}
	return out
}

// worstVersusReference renders img with p at w x h (edge fill, [0,255] values) and returns the
// largest difference from refSample, in levels.
func worstVersusReference(t *testing.T, img image.Image, p Params, w, h int) float64 {
	t.Helper()
	got := render(t, img, p, w, h, FillEdge)
	m, err := p.SourceMap(w, h)
	if err != nil {
		t.Fatal(err)
	}
	want := refSample(img, m, w, h)
	worst := 0.0
	for i := range got {
		worst = max(worst, math.Abs(float64(got[i])-want[i]))
	}
	return worst
}

func testImages() map[string]image.Image {
	const w, h = 41, 31
	rect := image.Rect(3, 2, 3+w, 2+h) // non-zero origin on purpose
	imgs := map[string]image.Image{}
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio411} {
		yc := image.NewYCbCr(rect, ratio)
		for y := rect.Min.Y; y < rect.Max.Y; y++ {
			for x := rect.Min.X; x < rect.Max.X; x++ {
				yc.Y[yc.YOffset(x, y)] = uint8(40 + 4*x + 2*y)
				c := yc.COffset(x, y)
				yc.Cb[c] = uint8(128 + 60*math.Sin(float64(x)/6))
				yc.Cr[c] = uint8(128 + 50*math.Cos(float64(y)/5))
			}
		}
		imgs["ycbcr"+ratio.String()] = yc
	}
	gray := image.NewGray(rect)
	nrgba := image.NewNRGBA(rect)
	cmyk := image.NewCMYK(rect)
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			gray.SetGray(x, y, color.Gray{uint8(5 * x * y)})
			nrgba.SetNRGBA(x, y, color.NRGBA{uint8(6 * x), uint8(9 * y), uint8(x * y), 255})
			cmyk.SetCMYK(x, y, color.CMYK{uint8(6 * x), uint8(9 * y), uint8(x + y), uint8(y)})
		}
	}
	imgs["gray"], imgs["nrgba"], imgs["cmyk"] = gray, nrgba, cmyk
	return imgs
}

// TestFastPathsMatchAtReference checks every image type's sampler against
// refSample under a general affine map (crop, rotation, shear, zoom), edge fill.
func TestFastPathsMatchAtReference(t *testing.T) {
	for name, img := range testImages() {
		p := Neutral(Rect{2.5, 1.25, 33, 27})
		p.Rotate, p.Shear, p.Zoom, p.FlipH = 23, 9, 1.2, true
		worst := worstVersusReference(t, img, p, 29, 23)
		// YCbCr is converted after interpolation in 8.8 fixed point (≈1
		// level); the others differ only by the 8-bit weights.
		if worst > 2 {
			t.Errorf("%s: max |fast - At reference| = %g levels, want <= 2", name, worst)
		}
	}
}

// smooth returns a low-frequency RGBA test image, so that repeated bilinear
// resampling in TestComposedEqualsSequential loses little.
func smooth(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			img.Set(x, y, color.RGBA{
				uint8(128 + 100*math.Sin(3*fx+1)*math.Cos(2*fy)),
				uint8(40 + 180*fx*fy),
				uint8(128 + 90*math.Cos(4*fy-2*fx)), 255})
		}
	}
	return img
}

func toRGBA(buf []float32, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		for c := range 3 {
			img.Pix[4*i+c] = uint8(math.Round(float64(buf[3*i+c])))
		}
		img.Pix[4*i+3] = 255
	}
	return img
}

// TestComposedEqualsSequential replays Forward's documented order step by
// step (crop+resize, flip, rotate, shear, zoom, shift, each its own
// resampling) and compares with the single composed pass away from borders.
func TestComposedEqualsSequential(t *testing.T) {
	src := smooth(300, 220)
	const w, h = 128, 128
	p := Neutral(Rect{30, 20, 200, 170})
	p.FlipH, p.Rotate, p.Shear, p.Zoom, p.ShiftX, p.ShiftY = true, 30, 10, 1.15, 6, -4
	composed := render(t, src, p, w, h, FillConstant)

	steps := []func(*Params){
		func(q *Params) { q.FlipH = true },
		func(q *Params) { q.Rotate = p.Rotate },
		func(q *Params) { q.Shear = p.Shear },
		func(q *Params) { q.Zoom = p.Zoom },
		func(q *Params) { q.ShiftX, q.ShiftY = p.ShiftX, p.ShiftY },
	}
	cur := toRGBA(render(t, src, Neutral(p.Crop), w, h, FillConstant), w, h)
	for _, step := range steps {
		q := Neutral(full(cur))
		step(&q)
		cur = toRGBA(render(t, cur, q, w, h, FillConstant), w, h)
	}
	m, _ := p.SourceMap(w, h)
	compared, worst := 0, 0.0
	for v := range h {
		for u := range w {
			x, y := m.Apply(float64(u)+0.5, float64(v)+0.5)
			// Skip pixels whose source (or an intermediate) is near a border.
			if x < p.Crop.X0+12 || y < p.Crop.Y0+12 || x > p.Crop.X0+p.Crop.W-12 || y > p.Crop.Y0+p.Crop.H-12 {
				continue
			}
			if u < 20 || v < 20 || u >= w-20 || v >= h-20 {
				continue
			}
			compared++
			for c := range 3 {
				worst = max(worst, math.Abs(float64(composed[(v*w+u)*3+c])-float64(cur.Pix[(v*w+u)*4+c])))
			}
		}
	}
	if compared < 2000 {
		t.Fatalf("only %d pixels compared; test geometry is off", compared)
	}
	if worst > 4 {
		t.Errorf("composed vs sequential: max difference %g levels over %d pixels, want <= 4", worst, compared)
	}
}

// grad is a grey horizontal ramp 20..220, 64x8.
func grad() *image.Gray {
	img := image.NewGray(image.Rect(0, 0, 64, 8))
	for y := range 8 {
		for x := range 64 {
			img.SetGray(x, y, color.Gray{uint8(20 + 200*x/63)})
		}
	}
	return img
}

func TestColourOpsOnKnownPixels(t *testing.T) {
	// Two colours, left and right halves; no clipping for these factors.
	img := image.NewRGBA(image.Rect(0, 0, 8, 4))
	a, b := [3]float64{200, 100, 50}, [3]float64{30, 60, 90}
	for y := range 4 {
		for x := range 8 {
			c := a
			if x >= 4 {
				c = b
			}
			img.Set(x, y, color.RGBA{uint8(c[0]), uint8(c[1]), uint8(c[2]), 255})
		}
	}
	grey := func(c [3]float64) float64 { return 0.299*c[0] + 0.587*c[1] + 0.114*c[2] }
	p := Neutral(full(img))
	p.Saturation = 0.6
	out := render(t, img, p, 8, 4, FillEdge)
	for i, c := range [][3]float64{a, b} {
		g := grey(c)
		for k := range 3 {
			want := g + 0.6*(c[k]-g)
			if got := float64(out[i*4*3+k]); math.Abs(got-want) > 0.05 {
				t.Errorf("saturation 0.6: colour %d channel %d = %g, want %g", i, k, got, want)
			}
		}
	}
	p = Neutral(full(img))
	p.Brightness = -0.1
	out = render(t, img, p, 8, 4, FillEdge)
	for k := range 3 {
		if want, got := a[k]-25.5, float64(out[k]); math.Abs(got-want) > 0.05 {
			t.Errorf("brightness -0.1: channel %d = %g, want %g", k, got, want)
		}
	}

	// Contrast blends with the view's mean grey; a linear ramp's mean is
	// the same whether taken over all pixels or the preview's samples.
	gimg := grad()
	p = Neutral(full(gimg))
	p.Contrast = 1.3
	out = render(t, gimg, p, 64, 8, FillEdge)
	mean := 0.0
	for x := range 64 {
		mean += float64(gimg.GrayAt(x, 0).Y) / 64
	}
	for x := range 64 {
		v := float64(gimg.GrayAt(x, 0).Y)
		want := min(max(mean+1.3*(v-mean), 0), 255)
		if got := float64(out[x*3]); math.Abs(got-want) > 0.6 {
			t.Errorf("contrast 1.3: pixel %d = %g, want %g (mean %g)", x, got, want, mean)
		}
	}
}

func TestScalingModes(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	img.Pix[0], img.Pix[1], img.Pix[2] = 0, 51, 102
	for _, s := range []Scaling{ScaleUnit, ScaleSigned, ScaleImageNet, Scale255} {
		cfg := Eval(2)
		cfg.Scaling = s
		a, _ := New(cfg)
		dst := make([]float32, a.Len())
		p := Neutral(full(img))
		if err := a.Render(dst, img, &p); err != nil {
			t.Fatal(err)
		}
		for k, v := range []float64{0, 51, 102} {
			var want float64
			switch s {
			case ScaleUnit:
				want = v / 255
			case ScaleSigned:
				want = v/127.5 - 1
			case ScaleImageNet:
				want = (v/255 - float64(ImageNetMean[k])) / float64(ImageNetStd[k])
			case Scale255:
				want = v
			}
			if math.Abs(float64(dst[k])-want) > 1e-4*max(1, math.Abs(want)) {
				t.Errorf("%v channel %d: got %g, want %g", s, k, dst[k], want)
			}
		}
	}
}

func TestCutoutFillsExactRegion(t *testing.T) {
	img := smooth(40, 40)
	p := Neutral(full(img))
	p.NumHoles = 1
	p.Holes[0] = Hole{5, 7, 15, 19}
	cfg := Eval(40)
	cfg.Scaling = ScaleUnit
	a, _ := New(cfg)
	dst := make([]float32, a.Len())
	if err := a.Render(dst, img, &p); err != nil {
		t.Fatal(err)
	}
	zeros := 0
	for i := 0; i < len(dst); i += 3 {
		x, y := (i/3)%40, (i/3)/40
		in := x >= 5 && x < 15 && y >= 7 && y < 19
		isZero := dst[i] == 0 && dst[i+1] == 0 && dst[i+2] == 0
		if in != isZero {
			t.Fatalf("pixel (%d,%d): inside hole %v but zero %v", x, y, in, isZero)
		}
		if isZero {
			zeros++
		}
	}
	if zeros != 10*12 {
		t.Errorf("%d zero pixels, want 120", zeros)
	}
	// Drawn holes respect the configured count and side range.
	cfg = Default(100)
	cfg.Cutout.Prob = 1
	for seed := range 200 {
		rng := NewRNG(uint64(seed))
		q := cfg.Draw(&rng, 800, 600)
		if q.NumHoles < cfg.CutoutMin || q.NumHoles > cfg.CutoutMax {
			t.Fatalf("seed %d: %d holes", seed, q.NumHoles)
		}
		for _, h := range q.Holes[:q.NumHoles] {
			side := h.X1 - h.X0
			if side != h.Y1-h.Y0 || side < 10 || side > 20 || h.X0 < 0 || h.Y0 < 0 || h.X1 > 100 || h.Y1 > 100 {
				t.Fatalf("seed %d: hole %+v outside side range [10,20] or image", seed, h)
			}
		}
	}
}

func TestDrawIsDeterministicAndInRange(t *testing.T) {
	cfg := Default(512)
	seen := map[Params]bool{}
	for i := range 500 {
		r1, r2 := NewRNG(SeedFor(7, 1, uint64(i), 0)), NewRNG(SeedFor(7, 1, uint64(i), 0))
		p1, p2 := cfg.Draw(&r1, 800, 600), cfg.Draw(&r2, 800, 600)
		if p1 != p2 {
			t.Fatal("same seed drew different params")
		}
		seen[p1] = true
		c := p1.Crop
		if c.X0 < 0 || c.Y0 < 0 || c.X0+c.W > 800+1e-9 || c.Y0+c.H > 600+1e-9 || c.W <= 0 || c.H <= 0 {
			t.Fatalf("crop %+v outside the 800x600 source", c)
		}
		if math.Abs(p1.Rotate) > 180 || math.Abs(p1.Shear) > 15 || p1.Zoom < 0.9 || p1.Zoom > 1.1 {
			t.Fatalf("params out of range: %+v", p1)
		}
	}
	if len(seen) != 500 {
		t.Errorf("only %d distinct parameter sets in 500 draws", len(seen))
	}
	if SeedFor(1, 2, 3) == SeedFor(1, 3, 2) {
		t.Error("SeedFor ignores the order of its parts")
	}
}

func TestCentreCropEval(t *testing.T) {
	cfg := Eval(512)
	cfg.Resize = ResizeCentreCrop
	rng := NewRNG(1)
	p := cfg.Draw(&rng, 800, 600)
	if p.Crop != (Rect{100, 0, 600, 600}) {
		t.Errorf("centre crop of 800x600 is %+v, want {100 0 600 600}", p.Crop)
	}
	cfg.CentreFraction = 0.5
	if p = cfg.Draw(&rng, 800, 600); p.Crop != (Rect{250, 150, 300, 300}) {
		t.Errorf("half centre crop of 800x600 is %+v, want {250 150 300 300}", p.Crop)
	}
}

func TestBadInputErrors(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.Width = 0 },
		func(c *Config) { c.Rotate.Prob = 1.5 },
		func(c *Config) { c.Zoom = Op{1, 0, 2} },
		func(c *Config) { c.Crop = Op{0.5, 0.8, 0.2} },
		func(c *Config) { c.CutoutMax = 99 },
		func(c *Config) { c.Scaling = 9 },
		func(c *Config) { c.CutoutValue = 2 },
	}
	for i, f := range bad {
		c := Default(64)
		f(&c)
		if _, err := New(c); err == nil {
			t.Errorf("bad config %d accepted", i)
		}
	}
	a, _ := New(Eval(8))
	dst := make([]float32, a.Len())
	rng := NewRNG(1)
	if err := a.Apply(dst, nil, &rng); err == nil {
		t.Error("nil image accepted")
	}
	if err := a.Apply(dst[:5], smooth(8, 8), &rng); err == nil {
		t.Error("short output buffer accepted")
	}
	p := Neutral(Rect{0, 0, 8, 8})
	p.Zoom = 0
	if err := a.Render(dst, smooth(8, 8), &p); err == nil {
		t.Error("singular zoom accepted")
	}
}

// TestDefaultOutputStaysInScaledRange renders many random views with every op
// at its extremes' reach: each value must be finite and inside the scaled
// image of [0,1], per channel.
func TestDefaultOutputStaysInScaledRange(t *testing.T) {
	imgs := testImages()
	cfg := Default(24)
	cfg.Saturation, cfg.Contrast, cfg.Brightness = Op{1, 0, 3}, Op{1, 0, 3}, Op{1, -0.5, 0.5}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, a.Len())
	for seed := range 200 {
		for name, img := range imgs {
			rng := NewRNG(SeedFor(3, uint64(seed)))
			if err := a.Apply(dst, img, &rng); err != nil {
				t.Fatal(err)
			}
			for i, v := range dst {
				c := i % 3
				lo := -float64(ImageNetMean[c]) / float64(ImageNetStd[c])
				hi := (1 - float64(ImageNetMean[c])) / float64(ImageNetStd[c])
				if !(float64(v) >= lo-1e-5 && float64(v) <= hi+1e-5) {
					t.Fatalf("%s seed %d: value %d = %g outside [%g, %g]", name, seed, i, v, lo, hi)
				}
			}
		}
	}
}

// TestThinImagesMatchAtReference: images one pixel wide or tall (down to 1x1)
// are valid input ("images of any size"), rendered like any other: they must
// match the naive At() sampler, which repeats border pixels, and survive the
// default augmentation with every op drawn.
func TestThinImagesMatchAtReference(t *testing.T) {
	colour := func(x, y int) color.RGBA {
		return color.RGBA{uint8(30 + 50*x + 7*y), uint8(200 - 40*y), uint8(90 + 13*x*y), 255}
	}
	var imgs []image.Image
	for _, r := range []image.Rectangle{image.Rect(0, 0, 1, 1), image.Rect(5, 7, 6, 12), image.Rect(-2, 3, 4, 4)} {
		rgba := image.NewRGBA(r)
		gray := image.NewGray(r)
		yc := image.NewYCbCr(r, image.YCbCrSubsampleRatio420)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				c := colour(x-r.Min.X, y-r.Min.Y)
				rgba.SetRGBA(x, y, c)
				gray.SetGray(x, y, color.Gray{c.G})
				yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
				yc.Y[yc.YOffset(x, y)], yc.Cb[yc.COffset(x, y)], yc.Cr[yc.COffset(x, y)] = yy, cb, cr
			}
		}
		imgs = append(imgs, rgba, gray, yc)
	}
	for _, img := range imgs {
		p := Neutral(full(img))
		p.Rotate, p.Shear, p.Zoom = 31, 11, 0.8
		if worst := worstVersusReference(t, img, p, 9, 7); worst > 2 {
			t.Errorf("%T %v: max |render - At reference| = %g levels, want <= 2", img, img.Bounds(), worst)
		}
	}
	a, err := New(Default(16))
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, a.Len())
	for seed := range uint64(50) {
		for _, img := range imgs {
			rng := NewRNG(seed)
			if err := a.Apply(dst, img, &rng); err != nil {
				t.Fatalf("%T %v, seed %d: %v", img, img.Bounds(), seed, err)
			}
		}
	}
}

// FuzzAugmentAnySize: whatever the image's size (1..64 per side), type and origin, and whatever the
// draw, the default augmentation renders it without error or panic into finite [0,1] values (extreme
// aspect ratios such as 64x1 included). The default test run only runs the seeds.
func FuzzAugmentAnySize(f *testing.F) {
	f.Add(uint8(1), uint8(1), uint8(0), int8(0), uint64(1))
	f.Add(uint8(64), uint8(1), uint8(1), int8(-3), uint64(2))
	f.Add(uint8(2), uint8(63), uint8(2), int8(5), uint64(3))
	f.Add(uint8(3), uint8(3), uint8(3), int8(-128), uint64(4))
	cfg := Default(12)
	cfg.Scaling = ScaleUnit
	cfg.Cutout.Prob = 1
	a, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, w, h, kind uint8, origin int8, seed uint64) {
		r := image.Rect(0, 0, 1+int(w)%64, 1+int(h)%64).Add(image.Pt(int(origin), int(origin)/2))
		var img image.Image
		switch kind % 4 {
		case 0:
			// Only from origins >= 0: the standard library's own YCbCr.At indexes out of range for a
			// subsampled image at a negative odd origin (decoders always start at 0,0).
			r = r.Sub(r.Min).Add(image.Pt(int(uint8(origin)), int(uint8(origin))/2))
			img = image.NewYCbCr(r, image.YCbCrSubsampleRatio420)
		case 1:
			img = image.NewGray(r)
		case 2:
			img = image.NewNRGBA(r)
		default:
			img = image.NewCMYK(r)
		}
		dst := make([]float32, a.Len())
		rng := NewRNG(seed)
		if err := a.Apply(dst, img, &rng); err != nil {
			t.Fatalf("%T %v: %v", img, r, err)
		}
		for i, v := range dst {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("%T %v: value %d = %g outside [0,1]", img, r, i, v)
			}
		}
	})
}
