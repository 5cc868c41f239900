package ops

import (
	"encoding/json"
	"os"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/supcon-go/supcon/tpu"
)

// TestConvAgainstTorch compares Conv and Depthwise with PyTorch's conv2d (testdata/conv_ref.py),
// which pins the NHWC/HWIO layouts and the two paddings against an independent implementation.
func TestConvAgainstTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/conv_ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Name      string
			Depthwise bool
			Stride    int
			Padding   string
			XDims     []int `json:"x_dims"`
			KDims     []int `json:"k_dims"`
			YDims     []int `json:"y_dims"`
			X, K, Y   []float64
		}
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatal("no cases in testdata/conv_ref.json")
	}
	backend := tpu.ForTests()
	for _, c := range ref.Cases {
		padding := SamePadding
		if c.Padding == "symmetric" {
			padding = SymmetricPadding
		}
		x := tensors.FromFlatDataAndDimensions(c.X, c.XDims...)
		k := tensors.FromFlatDataAndDimensions(c.K, c.KDims...)
		got, err := ExecOnce(backend, func(x, k *Node) *Node {
			if c.Depthwise {
				return Depthwise(x, k, c.Stride, padding)
			}
			return Conv(x, k, c.Stride, padding)
		}, x, k)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		checkClose(t, c.Name, got, c.Y, c.YDims)
	}
}
