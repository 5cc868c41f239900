package gradcheck

import (
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/supcon-go/supcon/tpu"
)

func TestCheckAcceptsCorrectGradient(t *testing.T) {
	backend := tpu.ForTests()
	x := RandomTensor(1, 3, 4)
	y := RandomTensor(2, 4, 2)
	rep, err := Check(backend, func(in []*Node) *Node {
		return Tanh(MatMul(in[0], in[1]))
	}, []*tensors.Tensor{x, y}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Probes != 3*4+4*2 {
		t.Errorf("probes = %d, want every element of both inputs (20)", rep.Probes)
	}
}

// A deliberately wrong gradient must be caught: otherwise the checker proves nothing.
func TestCheckRejectsWrongGradient(t *testing.T) {
	backend := tpu.ForTests()
	x := RandomTensor(3, 5)
	_, err := Check(backend, func(in []*Node) *Node {
		return IdentityWithCustomGradient(Square(in[0]), func(x, v *Node) *Node { return MulScalar(v, 3) })
	}, []*tensors.Tensor{x}, Options{})
	if err == nil || !strings.Contains(err.Error(), "finite difference") {
		t.Fatalf("wrong gradient not detected: err=%v", err)
	}
}

// A gradient wrong in a single element that the element probes skip must still be caught by the
// random-direction check.
func TestCheckRejectsOneWrongElement(t *testing.T) {
	backend := tpu.ForTests()
	const n, wrong = 40, 17
	mask := make([]float64, n)
	mask[wrong] = 0.5
	fn := func(in []*Node) *Node {
		m := Const(in[0].Graph(), tensors.FromFlatDataAndDimensions(mask, n))
		return IdentityWithCustomGradient(in[0], func(_, v *Node) *Node { return Add(v, Mul(v, m)) })
	}
	x := RandomTensor(4, n)
	for seed := range uint64(4) {
		_, err := Check(backend, fn, []*tensors.Tensor{x}, Options{MaxProbes: 1, Directions: -1, Seed: seed})
		if err != nil {
			continue // This seed's probe hit the wrong element; find one that misses it.
		}
		_, err = Check(backend, fn, []*tensors.Tensor{x}, Options{MaxProbes: 1, Seed: seed})
		if err == nil || !strings.Contains(err.Error(), "random direction") {
			t.Fatalf("seed %d: one wrong gradient element not detected by the direction check: err=%v", seed, err)
		}
		return
	}
	t.Fatal("every seed's single probe hit the wrong element: pick another")
}
