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
