package augment

import (
	"fmt"
	"math"
)

// Affine maps a point (x, y) to (A·x + B·y + C, D·x + E·y + F), stored as
// [A, B, C, D, E, F]. Coordinates are continuous pixel coordinates with y
// pointing down: pixel (i, j) covers [i, i+1) × [j, j+1), its centre is
// (i+0.5, j+0.5).
type Affine [6]float64

// Identity is the affine map that changes nothing.
func Identity() Affine { return Affine{1, 0, 0, 0, 1, 0} }

// Translate moves points by (tx, ty).
func Translate(tx, ty float64) Affine { return Affine{1, 0, tx, 0, 1, ty} }

// Scale multiplies coordinates by (sx, sy) about the origin.
func Scale(sx, sy float64) Affine { return Affine{sx, 0, 0, 0, sy, 0} }

// Rotate turns points by deg degrees about the origin, counter-clockwise as
// seen on screen (y down), the same sense as torchvision's rotate/RandomAffine.
func Rotate(deg float64) Affine {
	s, c := math.Sincos(deg * math.Pi / 180)
	return Affine{c, s, 0, -s, c, 0}
}

// ShearX slants points horizontally: x' = x + tan(deg)·y.
func ShearX(deg float64) Affine { return Affine{1, math.Tan(deg * math.Pi / 180), 0, 0, 1, 0} }

// Apply maps one point.
func (m Affine) Apply(x, y float64) (float64, float64) {
	return m[0]*x + m[1]*y + m[2], m[3]*x + m[4]*y + m[5]
}

// Then returns the map "first m, then n".
func (m Affine) Then(n Affine) Affine {
	return Affine{
		n[0]*m[0] + n[1]*m[3], n[0]*m[1] + n[1]*m[4], n[0]*m[2] + n[1]*m[5] + n[2],
		n[3]*m[0] + n[4]*m[3], n[3]*m[1] + n[4]*m[4], n[3]*m[2] + n[4]*m[5] + n[5],
	}
}

// About conjugates m so that it acts about the point (cx, cy) instead of the
// origin: rotations and zooms of an image turn about its centre.
func (m Affine) About(cx, cy float64) Affine {
	return Translate(-cx, -cy).Then(m).Then(Translate(cx, cy))
}

// Invert returns the inverse map, or an error when m is (nearly) singular,
// e.g. a zoom of 0 or a shear of ±90°.
func (m Affine) Invert() (Affine, error) {
	det := m[0]*m[4] - m[1]*m[3]
	scale := math.Abs(m[0]) + math.Abs(m[1]) + math.Abs(m[3]) + math.Abs(m[4])
	if !(math.Abs(det) > 1e-12*scale*scale) || math.IsInf(det, 0) {
		return Affine{}, fmt.Errorf("augment: affine map %v is singular (determinant %g)", m, det)
	}
	a, b, d, e := m[4]/det, -m[1]/det, -m[3]/det, m[0]/det
	return Affine{a, b, -(a*m[2] + b*m[5]), d, e, -(d*m[2] + e*m[5])}, nil
}
