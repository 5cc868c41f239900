// Package gradcheck compares GoMLX's reverse-mode gradients with central finite differences,
// in float64, so every op and loss of the project can prove its VJP is right.
package gradcheck

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Options tune a check. The zero value is usable.
type Options struct {
	Epsilon   float64 // finite-difference step; default 1e-6.
	RelTol    float64 // default 1e-5.
	AbsTol    float64 // default 1e-7.
	MaxProbes int     // elements probed per input (chosen at random when there are more); default 64.
	// Directions is the number of random directions d per input along which the directional
	// derivative <gradient, d> is also checked (default 2; negative: none). Each covers every element
	// at once, so an error in elements the probes skipped (an edge of a convolution, say) is caught.
	Directions int
	Seed       uint64
}

// Report is the largest disagreement found.
type Report struct {
	MaxAbsErr, MaxRelErr float64
	Probes               int
}

// Check returns an error describing the first element whose analytic gradient disagrees with
// the finite difference of the scalar loss sum(fn(inputs) * W), W a fixed random projection of
// fn's output (so every output element matters, with different weights).
// All inputs must be float64 tensors.
func Check(backend backends.Backend, fn func(inputs []*Node) *Node, inputs []*tensors.Tensor, opts Options) (Report, error) {
	if opts.Epsilon == 0 {
		opts.Epsilon = 1e-6
	}
	if opts.RelTol == 0 {
		opts.RelTol = 1e-5
	}
	if opts.AbsTol == 0 {
		opts.AbsTol = 1e-7
	}
	if opts.MaxProbes == 0 {
		opts.MaxProbes = 64
	}
	if opts.Directions == 0 {
		opts.Directions = 2
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))

	var projection []float64
	lossOf := func(g *Graph, xs []*Node) *Node {
		out := fn(xs)
		if projection == nil {
			projection = make([]float64, out.Shape().Size())
			for i := range projection {
				projection[i] = rng.Float64()*2 - 1
			}
		}
		w := Const(g, tensors.FromFlatDataAndDimensions(projection, out.Shape().Dimensions...))
		return ReduceAllSum(Mul(out, w))
	}
	gradExec, err := NewExec(backend, func(xs []*Node) []*Node {
		loss := lossOf(xs[0].Graph(), xs)
		return append([]*Node{loss}, Gradient(loss, xs...)...)
	})
	if err != nil {
		return Report{}, err
	}
	defer gradExec.Finalize()
	lossExec, err := NewExec(backend, func(xs []*Node) *Node { return lossOf(xs[0].Graph(), xs) })
	if err != nil {
		return Report{}, err
	}
	defer lossExec.Finalize()

	args := make([]any, len(inputs))
	flats := make([][]float64, len(inputs))
	for i, t := range inputs {
		if t.DType().String() != "Float64" {
			return Report{}, fmt.Errorf("gradcheck: input #%d is %s, want Float64", i, t.DType())
		}
		flats[i] = tensors.MustCopyFlatData[float64](t)
		args[i] = tensors.FromFlatDataAndDimensions(flats[i], t.Shape().Dimensions...)
	}
	outs, err := gradExec.Exec(args...)
	if err != nil {
		return Report{}, err
	}
	evalLoss := func(which int, flat []float64) (float64, error) {
		probeArgs := append([]any(nil), args...)
		probeArgs[which] = tensors.FromFlatDataAndDimensions(flat, inputs[which].Shape().Dimensions...)
		res, err := lossExec.Exec(probeArgs...)
		if err != nil {
			return 0, err
		}
		return tensors.MustCopyFlatData[float64](res[0])[0], nil
	}

	var rep Report
	for i := range inputs {
		analytic := tensors.MustCopyFlatData[float64](outs[i+1])
		n := len(flats[i])
		probes := rng.Perm(n)
		if len(probes) > opts.MaxProbes {
			probes = probes[:opts.MaxProbes]
		}
		for _, j := range probes {
			flat := append([]float64(nil), flats[i]...)
			flat[j] = flats[i][j] + opts.Epsilon
			plus, err := evalLoss(i, flat)
			if err != nil {
				return rep, err
			}
			flat[j] = flats[i][j] - opts.Epsilon
			minus, err := evalLoss(i, flat)
			if err != nil {
				return rep, err
			}
			numeric := (plus - minus) / (2 * opts.Epsilon)
			absErr := math.Abs(numeric - analytic[j])
			relErr := absErr / math.Max(math.Abs(numeric), 1e-12)
			rep.Probes++
			rep.MaxAbsErr = math.Max(rep.MaxAbsErr, absErr)
			if absErr > opts.AbsTol {
				rep.MaxRelErr = math.Max(rep.MaxRelErr, relErr)
			}
			if math.IsNaN(analytic[j]) || absErr > opts.AbsTol+opts.RelTol*math.Abs(numeric) {
				return rep, fmt.Errorf("gradcheck: input #%d element %d: analytic %.10g, finite difference %.10g (abs err %.3g)",
					i, j, analytic[j], numeric, absErr)
			}
		}
		for dir := range opts.Directions {
			if err := checkDirection(i, dir, flats[i], analytic, rng, opts, evalLoss); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

// checkDirection compares (loss(x + ε·d) - loss(x - ε·d)) / 2ε with <analytic gradient, d> for a
// random direction d of input #which. The tolerance is relative to Σ|g_j·d_j| (not to the result,
// which may cancel) plus AbsTol per √element.
func checkDirection(which, dir int, x, analytic []float64, rng *rand.Rand, opts Options,
	evalLoss func(int, []float64) (float64, error)) error {
	d := make([]float64, len(x))
	var want, scale float64
	for j := range d {
		d[j] = rng.Float64()*2 - 1
		want += analytic[j] * d[j]
		scale += math.Abs(analytic[j] * d[j])
	}
	moved := make([]float64, len(x))
	loss := func(sign float64) (float64, error) {
		for j := range x {
			moved[j] = x[j] + sign*opts.Epsilon*d[j]
		}
		return evalLoss(which, moved)
	}
	plus, err := loss(1)
	if err != nil {
		return err
	}
	minus, err := loss(-1)
	if err != nil {
		return err
	}
	numeric := (plus - minus) / (2 * opts.Epsilon)
	if absErr := math.Abs(numeric - want); math.IsNaN(want) || absErr > opts.AbsTol*math.Sqrt(float64(len(x)))+opts.RelTol*scale {
		return fmt.Errorf("gradcheck: input #%d random direction %d: analytic directional derivative %.10g, "+
			"finite difference %.10g (abs err %.3g)", which, dir, want, numeric, absErr)
	}
	return nil
}

// RandomTensor returns a float64 tensor of the given dimensions with values uniform in [-1, 1),
// deterministic in seed.
func RandomTensor(seed uint64, dims ...int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	size := 1
	for _, d := range dims {
		size *= d
	}
	flat := make([]float64, size)
	for i := range flat {
		flat[i] = rng.Float64()*2 - 1
	}
	return tensors.FromFlatDataAndDimensions(flat, dims...)
}
