package augment

import (
	"encoding/json"
	"image"
	"math"
	"os"
	"testing"
)

// TestGeometryMatchesTorchvision checks the rotation sense and centre, the
// flip-then-rotate order and crop+resize against torchvision's functional ops
// (testdata/torchvision_ref.py), away from the borders where fill rules differ.
func TestGeometryMatchesTorchvision(t *testing.T) {
	raw, err := os.ReadFile("testdata/torchvision_ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Width, Height int
		Pixels        []uint8
		Rotate30      []uint8 `json:"rotate_30"`
		RotateM75     []uint8 `json:"rotate_m75"`
		HFlipRotate30 []uint8 `json:"hflip_rotate_30"`
		ResizedCrop   []uint8 `json:"resized_crop"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	w, h := ref.Width, ref.Height
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		copy(img.Pix[4*i:], ref.Pixels[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	cases := []struct {
		name   string
		p      Params
		ow, oh int
		want   []uint8
		inside Rect // source region whose interior (1.5 px in) is compared
	}{
		{"rotate 30", func() Params { p := Neutral(full(img)); p.Rotate = 30; return p }(), w, h, ref.Rotate30, full(img)},
		{"rotate -75", func() Params { p := Neutral(full(img)); p.Rotate = -75; return p }(), w, h, ref.RotateM75, full(img)},
		{"hflip, rotate 30", func() Params { p := Neutral(full(img)); p.FlipH, p.Rotate = true, 30; return p }(), w, h, ref.HFlipRotate30, full(img)},
		{"resized crop", Neutral(Rect{7, 5, 33, 30}), 24, 20, ref.ResizedCrop, Rect{7, 5, 33, 30}},
	}
	for _, c := range cases {
		got := render(t, img, c.p, c.ow, c.oh, FillConstant)
		m, err := c.p.SourceMap(c.ow, c.oh)
		if err != nil {
			t.Fatal(err)
		}
		compared, worst := 0, 0.0
		for v := range c.oh {
			for u := range c.ow {
				x, y := m.Apply(float64(u)+0.5, float64(v)+0.5)
				r := c.inside
				if x < r.X0+1.5 || y < r.Y0+1.5 || x > r.X0+r.W-1.5 || y > r.Y0+r.H-1.5 {
					continue
				}
				compared++
				for k := range 3 {
					i := (v*c.ow+u)*3 + k
					worst = max(worst, math.Abs(float64(got[i])-float64(c.want[i])))
				}
			}
		}
		if compared < c.ow*c.oh/3 {
			t.Fatalf("%s: only %d pixels compared", c.name, compared)
		}
		// torchvision rounds its uint8 result; we interpolate with 10-bit weights.
		if worst > 1.5 {
			t.Errorf("%s: max |ours - torchvision| = %g levels over %d pixels, want <= 1.5", c.name, worst, compared)
		}
	}
}
