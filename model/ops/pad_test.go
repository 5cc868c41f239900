package ops

import (
	"reflect"
	"strings"
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

func TestPadZerosBadInput(t *testing.T) {
	x := tensors.FromValue([][]float32{{1, 2, 3}, {4, 5, 6}})
	for _, c := range []struct {
		name, want                    string
		axis, before, after, interior int
	}{
		{"negative before", "must be >= 0", 1, -1, 0, 0},
		{"negative after", "must be >= 0", 0, 0, -2, 0},
		{"negative interior", "must be >= 0", 0, 0, 0, -1},
		{"axis", "axis 2 out of range", 2, 1, 0, 0},
	} {
		_, err := ExecOnce(tpu.ForTests(), func(x *Node) *Node { return PadZeros(x, c.axis, c.before, c.after, c.interior) }, x)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
	got := MustExecOnce(tpu.ForTests(), func(x *Node) *Node { return PadZeros(x, -1, 1, 0, 0) }, x)
	if want := [][]float32{{0, 1, 2, 3}, {0, 4, 5, 6}}; !reflect.DeepEqual(got.Value(), want) {
		t.Errorf("PadZeros(axis=-1, 1, 0) = %v, want %v", got.Value(), want)
	}
}
