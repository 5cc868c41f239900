package ops

import (
	"reflect"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/supcon-go/supcon/tpu"
)

func TestPadZeros(t *testing.T) {
	backend := tpu.ForTests()
	x := tensors.FromValue([][]float32{{1, 2, 3}, {4, 5, 6}})
	got := MustExecOnce(backend, func(x *Node) *Node { return PadZeros(x, 1, 1, 2, 1) }, x)
	want := [][]float32{{0, 1, 0, 2, 0, 3, 0, 0}, {0, 4, 0, 5, 0, 6, 0, 0}}
	if !reflect.DeepEqual(got.Value(), want) {
		t.Errorf("PadZeros(axis=1, 1, 2, interior 1) = %v, want %v", got.Value(), want)
	}
	got = MustExecOnce(backend, func(x *Node) *Node { return PadZeros(x, 0, 0, 1, 0) }, x)
	want = [][]float32{{1, 2, 3}, {4, 5, 6}, {0, 0, 0}}
	if !reflect.DeepEqual(got.Value(), want) {
		t.Errorf("PadZeros(axis=0, 0, 1) = %v, want %v", got.Value(), want)
	}
}
