package data

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/pkg/errors"
)

// SyntheticOptions configures Synthetic.
type SyntheticOptions struct {
	Seed uint64
	// Total is the number of images; the classes get Cassava's proportions (CassavaCounts) scaled to it,
	// each at least one image. Ignored when Counts is set. Default 100.
	Total int
	// Counts, when set, gives the number of images of each of the 5 classes directly.
	Counts []int
	// Width and Height of every image, default 256x192 (Cassava photos are 800x600, the same aspect).
	Width, Height int
}

// Class indices of the synthetic set (Cassava's label order).
const (
	synCBB = iota
	synCBSD
	synCGM
	synCMD
	synHealthy
)

// syntheticDataset renders each image on demand from (seed, index): nothing is stored but the labels.
type syntheticDataset struct {
	seed          uint64
	width, height int
	labels        []int
}

// Synthetic returns a built-in, deterministic stand-in for the Cassava set: 5 classes (CassavaClasses)
// of leaf images on a soil/grass background, whose textures differ the way the diseases do:
//   - CBB: angular brown spots between the veins and wilting brown margins;
//   - CBSD: yellow streaks along the veins;
//   - CGM: pale, soft mottling and narrower lobes;
//   - CMD: a high-contrast yellow/green mosaic on distorted, wavy lobes;
//   - Healthy: uniform green with lighter veins.
//
// Leaf position, size, rotation, lobe count, colours, lighting and disease severity vary per image, so
// it is learnable but not trivial. Images (*image.RGBA) are rendered on demand per index and are the same
// for the same options on the same platform; labels are shuffled by the seed.
func Synthetic(opts SyntheticOptions) (Dataset, error) {
	if opts.Width == 0 && opts.Height == 0 {
		opts.Width, opts.Height = 256, 192
	}
	if opts.Width < 8 || opts.Height < 8 {
		return nil, errors.Errorf("Synthetic: image size %dx%d, must be at least 8x8", opts.Width, opts.Height)
	}
	if int64(opts.Width)*int64(opts.Height) > int64(MaxPixels) {
		return nil, errors.Errorf("Synthetic: image size %dx%d is over data.MaxPixels=%d", opts.Width, opts.Height, MaxPixels)
	}
	counts := opts.Counts
	if counts == nil {
		if opts.Total == 0 {
			opts.Total = 100
		}
		var err error
		if counts, err = ScaleCounts(CassavaCounts, opts.Total); err != nil {
			return nil, errors.Wrap(err, "Synthetic")
		}
	}
	if len(counts) != len(CassavaClasses) {
		return nil, errors.Errorf("Synthetic: %d class counts, the synthetic set has %d classes %q", len(counts), len(CassavaClasses), CassavaClasses)
	}
	var labels []int
	for c, n := range counts {
		if n < 0 {
			return nil, errors.Errorf("Synthetic: negative count %d for class %s", n, CassavaClasses[c])
		}
		for range n {
			labels = append(labels, c)
		}
	}
	if len(labels) == 0 {
		return nil, errors.New("Synthetic: no images requested")
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
	rng.Shuffle(len(labels), func(i, j int) { labels[i], labels[j] = labels[j], labels[i] })
	return &syntheticDataset{seed: opts.Seed, width: opts.Width, height: opts.Height, labels: labels}, nil
}

// ScaleCounts scales class counts to total images keeping their proportions (largest remainder), with
// every class of a non-zero count getting at least one image. total must be at least that many classes.
func ScaleCounts(counts []int, total int) ([]int, error) {
	sum, nonzero := 0, 0
	for _, n := range counts {
		if n < 0 {
			return nil, errors.Errorf("ScaleCounts: negative count in %v", counts)
		}
		sum += n
		if n > 0 {
			nonzero++
		}
	}
	if sum == 0 {
		return nil, errors.Errorf("ScaleCounts: counts %v are all zero", counts)
	}
	if total < nonzero {
		return nil, errors.Errorf("ScaleCounts: total %d is less than the %d classes, each needs at least one image", total, nonzero)
	}
	out := make([]int, len(counts))
	rem := make([]float64, len(counts)) // exact quota minus what was given
	given := 0
	for c, n := range counts {
		if n == 0 {
			continue
		}
		q := float64(total) * float64(n) / float64(sum)
		out[c] = max(1, int(q))
		rem[c] = q - float64(out[c])
		given += out[c]
	}
	order := make([]int, 0, len(counts))
	for c := range counts {
		if counts[c] > 0 {
			order = append(order, c)
		}
	}
	// Hand out what is left to the largest remainders, or take the excess (from the minimum of one per
	// class) from the most over-served classes that can spare one.
	sort.SliceStable(order, func(a, b int) bool { return rem[order[a]] > rem[order[b]] })
	for i := 0; given < total; i = (i + 1) % len(order) {
		out[order[i]]++
		given++
	}
	for given > total {
		for i := len(order) - 1; i >= 0 && given > total; i-- {
			if c := order[i]; out[c] > 1 {
				out[c]--
				given--
			}
		}
	}
	return out, nil
}

func (d *syntheticDataset) Len() int          { return len(d.labels) }
func (d *syntheticDataset) ID(i int) string   { return fmt.Sprintf("synth-%06d.jpg", i) }
func (d *syntheticDataset) Label(i int) int   { return d.labels[i] }
func (d *syntheticDataset) Classes() []string { return CassavaClasses }

func (d *syntheticDataset) Image(i int) (image.Image, error) {
	if i < 0 || i >= len(d.labels) {
		return nil, errors.Errorf("synthetic image %d out of range [0, %d)", i, len(d.labels))
	}
	return renderLeaf(d.seed, uint64(i), d.labels[i], d.width, d.height), nil
}

// rgb is a colour with components in [0, 1].
type rgb struct{ r, g, b float64 }

func mix(a, b rgb, t float64) rgb {
	t = clamp01(t)
	return rgb{a.r + (b.r-a.r)*t, a.g + (b.g-a.g)*t, a.b + (b.b-a.b)*t}
}

func (c rgb) scale(s float64) rgb { return rgb{c.r * s, c.g * s, c.b * s} }

// clamp01 clamps to [0, 1] with plain comparisons: math.Max/Min's NaN handling costs a fifth of the
// rendering time, and no NaN arises here.
func clamp01(x float64) float64 {
	if x < 0 {
		return 0
	}
	if x > 1 {
		return 1
	}
	return x
}

// lobe is one leaflet of the palmate leaf: a lanceolate blade from the leaf centre along angle.
type lobe struct {
	cos, sin    float64
	length      float64
	halfWidth   float64
	wave, waveK float64 // CMD distortion: sideways bend amplitude and frequency
}

// leafParams are the per-image random choices.
type leafParams struct {
	class            int
	cx, cy           float64
	lobes            []lobe
	leaf, vein       rgb
	soil             rgb
	severity         float64
	noiseSeed        uint64
	lightX, lightY   float64
	veinSpacing      float64
	spotCell, spotSz float64
}

func newLeafParams(seed, index uint64, class, w, h int) *leafParams {
	rng := rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, index))
	s := float64(min(w, h))
	p := &leafParams{
		class:     class,
		cx:        float64(w) * (0.4 + 0.2*rng.Float64()),
		cy:        float64(h) * (0.45 + 0.2*rng.Float64()),
		severity:  0.5 + 0.5*rng.Float64(),
		noiseSeed: rng.Uint64(),
		lightX:    rng.Float64()*2 - 1,
		lightY:    rng.Float64()*2 - 1,
	}
	p.leaf = rgb{0.16 + 0.1*rng.Float64(), 0.42 + 0.15*rng.Float64(), 0.12 + 0.08*rng.Float64()}
	p.vein = mix(p.leaf, rgb{0.6, 0.8, 0.45}, 0.5)
	p.soil = mix(rgb{0.42, 0.32, 0.22}, rgb{0.25, 0.33, 0.18}, rng.Float64())
	nLobes := 5 + rng.IntN(3)
	spread := (200 + 60*rng.Float64()) * math.Pi / 180 // palmate lobes fan out over 200-260 degrees
	base := rng.Float64() * 2 * math.Pi
	length := s * (0.36 + 0.14*rng.Float64())
	widthFrac := 0.16 + 0.06*rng.Float64()
	if class == synCGM {
		widthFrac *= 0.7 // green mite: smaller, narrower leaflets
		length *= 0.85
	}
	for k := 0; k < nLobes; k++ {
		a := base + spread*(float64(k)/float64(nLobes-1)-0.5) + 0.1*(rng.Float64()-0.5)
		l := length * (0.75 + 0.25*math.Sin(math.Pi*(0.5+float64(k))/float64(nLobes))) // middle lobes longest
		lb := lobe{cos: math.Cos(a), sin: math.Sin(a), length: l, halfWidth: l * widthFrac}
		if class == synCMD {
			lb.wave = lb.halfWidth * (0.3 + 0.5*p.severity)
			lb.waveK = 2 * math.Pi * (1.5 + rng.Float64()) / l
			lb.halfWidth *= 0.8 + 0.3*rng.Float64() // uneven, distorted leaflets
		}
		p.lobes = append(p.lobes, lb)
	}
	p.veinSpacing = length * (0.12 + 0.04*rng.Float64())
	p.spotCell = length * (0.09 + 0.04*rng.Float64())
	p.spotSz = 0.25 + 0.2*p.severity
	return p
}

// renderLeaf draws image index of the synthetic set.
func renderLeaf(seed, index uint64, class, w, h int) *image.RGBA {
	p := newLeafParams(seed, index, class, w, h)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	s := float64(min(w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			px, py := float64(x)+0.5, float64(y)+0.5
			c := p.background(px, py, s)
			if inside, u, v, e, lb := p.locate(px, py); inside {
				c = p.leafColour(u, v, e, lb, s)
			}
			light := 0.85 + 0.15*(p.lightX*(px/float64(w)-0.5)+p.lightY*(py/float64(h)-0.5))*2
			c = c.scale(light * (0.95 + 0.1*valueNoise(px/3, py/3, p.noiseSeed+7))) // light and sensor grain
			o := img.PixOffset(x, y)
			img.Pix[o+0] = uint8(clamp01(c.r)*255 + 0.5)
			img.Pix[o+1] = uint8(clamp01(c.g)*255 + 0.5)
			img.Pix[o+2] = uint8(clamp01(c.b)*255 + 0.5)
			img.Pix[o+3] = 255
		}
	}
	return img
}

func (p *leafParams) background(x, y, s float64) rgb {
	n := fbm(x/(0.15*s), y/(0.15*s), p.noiseSeed)
	return mix(p.soil.scale(0.7), p.soil.scale(1.2), n)
}

// locate finds whether (x, y) is on the leaf, and if so its coordinates in the lobe it falls in:
// u along the lobe's midrib from the leaf centre, v across it, e = 1 at the midrib and 0 at the margin.
func (p *leafParams) locate(x, y float64) (inside bool, u, v, e float64, lb *lobe) {
	dx, dy := x-p.cx, y-p.cy
	best := -1.0
	for k := range p.lobes {
		l := &p.lobes[k]
		lu := dx*l.cos + dy*l.sin
		if lu <= 0 || lu >= l.length {
			continue
		}
		lv := -dx*l.sin + dy*l.cos
		if math.Abs(lv) > l.halfWidth+l.wave { // cheap rejection before the trigonometry
			continue
		}
		if l.wave != 0 {
			lv -= l.wave * math.Sin(lu*l.waveK) * lu / l.length
		}
		t := lu / l.length
		hw := l.halfWidth * math.Sqrt(math.Sin(math.Pi*math.Min(1, 0.15+t)))
		if t > 0.85 { // narrow tip
			hw *= (1 - t) / 0.15
		}
		if hw <= 0 {
			continue
		}
		le := 1 - math.Abs(lv)/hw
		if le > best {
			best, u, v, lb = le, lu, lv, l
		}
	}
	// The petiole junction: a small disc at the centre joins the lobes.
	if best < 0 {
		if r := math.Sqrt(dx*dx + dy*dy); r < 0.08*p.lobes[0].length {
			return true, r, 0, 0.5, &p.lobes[0]
		}
	}
	return best > 0, u, v, best, lb
}

// veinDistance is the distance (in pixels) from (u, v) to the nearest vein: the midrib or a lateral
// vein leaving it at about 50 degrees towards the tip.
func (p *leafParams) veinDistance(u, v float64) float64 {
	mid := math.Abs(v)
	along := u - 0.85*math.Abs(v)
	k := math.Round(along / p.veinSpacing)
	lateral := math.Abs(along-k*p.veinSpacing) * 0.76
	if k < 1 {
		lateral = math.Inf(1)
	}
	return math.Min(mid, lateral)
}

func (p *leafParams) leafColour(u, v, e float64, lb *lobe, s float64) rgb {
	ns := p.noiseSeed
	vd := p.veinDistance(u, v)
	veinW := 0.006 * s
	c := mix(p.leaf, p.leaf.scale(1.15), fbm(u/(0.05*s), v/(0.05*s), ns+1)) // gentle natural variation
	c = mix(c, p.leaf.scale(0.8), (1-e)*0.4)                                // darker towards the margins
	yellow := rgb{0.85, 0.78, 0.2}
	switch p.class {
	case synCBB:
		// Angular lesions: square-ish (Chebyshev-distance) patches in a grid of leaf coordinates,
		// water-soaked dark rim, brown centre; plus blighted, wilting margins.
		cu, cv := u/p.spotCell, v/p.spotCell
		iu, iv := math.Floor(cu), math.Floor(cv)
		if hc := hash3(uint64(int64(iu)), uint64(int64(iv)), ns+2); hc%100 < uint64(15+30*p.severity) {
			size := p.spotSz * (1 + float64(hc>>32%100)/100) // lesions of different sizes
			d := math.Max(math.Abs(cu-iu-0.5), math.Abs(cv-iv-0.5)) / 0.5
			if d < size {
				c = mix(rgb{0.45, 0.3, 0.12}, rgb{0.25, 0.18, 0.08}, d/size)
			}
		}
		if e < 0.12+0.15*p.severity*fbm(u/(0.04*s), 0, ns+3) {
			c = mix(rgb{0.5, 0.38, 0.15}, rgb{0.6, 0.55, 0.2}, valueNoise(u/(0.02*s), v/(0.02*s), ns+4))
		}
	case synCBSD:
		// Chlorosis along the veins: a yellow band that fades with distance from the vein.
		band := 0.008 * s * (0.6 + p.severity) * (0.6 + 0.8*fbm(u/(0.06*s), v/(0.06*s), ns+5))
		if vd < band {
			c = mix(c, yellow, (1-vd/band)*1.2)
		}
	case synCGM:
		// Pale mottling: soft, low-contrast patches.
		m := fbm(u/(0.04*s), v/(0.04*s), ns+6)
		c = mix(c, rgb{0.72, 0.8, 0.5}, (m-0.45)*2.2*p.severity)
	case synCMD:
		// Mosaic: sharp-edged yellow/light green patches.
		m := fbm(u/(0.035*s), v/(0.035*s), ns+8)
		if m > 0.55-0.1*p.severity {
			c = mix(c, mix(yellow, rgb{0.6, 0.8, 0.3}, valueNoise(u/(0.1*s), v/(0.1*s), ns+9)), 0.85)
		}
	}
	if vd < veinW && p.class != synCBSD {
		c = mix(c, p.vein, 1-vd/veinW)
	}
	if e < 0.04 { // a thin darker margin separates leaf and background
		c = c.scale(0.8)
	}
	return c
}

// hash3 mixes three integers (splitmix64 finaliser), for the lattice of the value noise.
func hash3(a, b, c uint64) uint64 {
	x := a*0x9e3779b97f4a7c15 ^ b*0xc2b2ae3d27d4eb4f ^ c*0x165667b19e3779f9
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// valueNoise is smooth 2-D value noise in [0, 1] with unit lattice spacing.
func valueNoise(x, y float64, seed uint64) float64 {
	fx, fy := math.Floor(x), math.Floor(y)
	ix, iy := uint64(int64(fx)), uint64(int64(fy))
	tx, ty := x-fx, y-fy
	tx, ty = tx*tx*(3-2*tx), ty*ty*(3-2*ty)
	v := func(dx, dy uint64) float64 { return float64(hash3(ix+dx, iy+dy, seed)>>11) / (1 << 53) }
	a := v(0, 0) + (v(1, 0)-v(0, 0))*tx
	b := v(0, 1) + (v(1, 1)-v(0, 1))*tx
	return a + (b-a)*ty
}

// fbm sums two octaves of value noise, in [0, 1].
func fbm(x, y float64, seed uint64) float64 {
	return (2*valueNoise(x, y, seed) + valueNoise(2*x+17.3, 2*y+5.1, seed+1)) / 3
}
