package augment

import (
	"fmt"
	"image"
	"sync"
)

// Augmenter renders views of images for one Config. It is safe for concurrent
// use: per-goroutine scratch comes from a sync.Pool.
type Augmenter struct {
	cfg      Config
	mul, add [3]float32
	pool     sync.Pool
}

// New validates cfg and returns an Augmenter for it.
func New(cfg Config) (*Augmenter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Augmenter{cfg: cfg}
	a.mul, a.add = cfg.Scaling.affine()
	a.pool.New = func() any { return new(sampler) }
	return a, nil
}

// Config returns the configuration the Augmenter was built with.
func (a *Augmenter) Config() Config { return a.cfg }

// Len is the number of float32 values of one rendered view (H·W·3).
func (a *Augmenter) Len() int { return a.cfg.Width * a.cfg.Height * 3 }

// Apply draws parameters from rng and renders img into dst (HWC RGB, length
// Len()).
func (a *Augmenter) Apply(dst []float32, img image.Image, rng *RNG) error {
	return a.apply(dst, nil, img, rng)
}

// ApplyBF16 is Apply writing bfloat16 bits (BFloat16 of what Apply writes),
// converted row by row while in cache rather than in a second pass.
func (a *Augmenter) ApplyBF16(dst []uint16, img image.Image, rng *RNG) error {
	return a.apply(nil, dst, img, rng)
}

func (a *Augmenter) apply(dst []float32, dst16 []uint16, img image.Image, rng *RNG) error {
	if img == nil {
		return fmt.Errorf("augment: nil image")
	}
	b := img.Bounds()
	p := a.cfg.Draw(rng, b.Dx(), b.Dy())
	return a.render(dst, dst16, img, &p)
}

// Render renders img with the given parameters into dst: one bilinear pass
// through the composed geometric map, then colour jitter and scaling, then
// cutout.
func (a *Augmenter) Render(dst []float32, img image.Image, p *Params) error {
	return a.render(dst, nil, img, p)
}

// RenderBF16 is Render writing bfloat16 bits.
func (a *Augmenter) RenderBF16(dst []uint16, img image.Image, p *Params) error {
	return a.render(nil, dst, img, p)
}

// render writes to dst, or to dst16 when dst is nil.
func (a *Augmenter) render(dst []float32, dst16 []uint16, img image.Image, p *Params) error {
	if img == nil {
		return fmt.Errorf("augment: nil image")
	}
	m, err := p.SourceMap(a.cfg.Width, a.cfg.Height)
	if err != nil {
		return err
	}
	s := a.pool.Get().(*sampler)
	defer a.pool.Put(s)
	jitter := p.Saturation != 1 || p.Contrast != 1 || p.Brightness != 0
	mean := 0.0
	if p.Contrast != 1 {
		// The mean grey of the view, estimated from a previewSize² render
		// through the same map (sampling the full view would cost a second
		// pass over the output).
		if mean, err = s.meanGrey(img, m, a.cfg); err != nil {
			return err
		}
	}
	s.fin = newFinisher(a.cfg.Scaling, jitter, p.Saturation, p.Contrast, p.Brightness, mean)
	if err := s.sample(dst, dst16, a.cfg.Width, a.cfg.Height, img, m, a.cfg.Fill, a.cfg.FillValue, &s.fin); err != nil {
		return err
	}
	if p.NumHoles > 0 {
		var v [3]float32
		for c := range 3 {
			v[c] = float32(a.cfg.CutoutValue*255)*a.mul[c] + a.add[c]
		}
		holes := p.Holes[:min(p.NumHoles, maxHoles)]
		if dst != nil {
			cutout(dst, a.cfg.Width, a.cfg.Height, holes, v)
		} else {
			cutout(dst16, a.cfg.Width, a.cfg.Height, holes, [3]uint16{BFloat16(v[0]), BFloat16(v[1]), BFloat16(v[2])})
		}
	}
	return nil
}

// previewSize is the side of the render used to estimate a view's mean grey.
const previewSize = 32

// meanGrey renders the view at (at most) previewSize² through the same source
// map and returns its mean grey level in [0,1].
func (s *sampler) meanGrey(img image.Image, m Affine, cfg Config) (float64, error) {
	pw, ph := min(cfg.Width, previewSize), min(cfg.Height, previewSize)
	if cap(s.preview) < pw*ph*3 {
		s.preview = make([]float32, pw*ph*3)
	}
	buf := s.preview[:pw*ph*3]
	shrink := Scale(float64(cfg.Width)/float64(pw), float64(cfg.Height)/float64(ph)).Then(m)
	s.fin = newFinisher(ScaleUnit, false, 1, 1, 0, 0)
	if err := s.sample(buf, nil, pw, ph, img, shrink, cfg.Fill, cfg.FillValue, &s.fin); err != nil {
		return 0, err
	}
	return meanGrey(buf), nil
}
