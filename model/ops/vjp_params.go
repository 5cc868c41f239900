package ops

import (
	"reflect"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/pkg/errors"
)

// nodeIntsParam reads the static []int parameter `field` of node (for instance "starts" of a
// Slice node, or "lhsContractingAxes" of a DotGeneral node).
//
// Why reflection: GoMLX v0.26.0 keeps these parameters in the unexported Node.inputs
// (*nodeInputsXxx) structs and offers no accessor, yet a replacement VJP needs them. Reading
// (never writing) unexported fields of ints is allowed by reflect. The field names are those of
// gen_backend_ops.go in the pinned GoMLX; if a future version renames them this returns an
// error and the callers fall back to GoMLX's own VJP (and TestNodeParams fails loudly).
func nodeIntsParam(node *Node, field string) ([]int, error) {
	inputs := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !inputs.IsValid() || inputs.IsNil() {
		return nil, errors.Errorf("node %s has no inputs field", node.Type())
	}
	params := inputs.Elem() // Interface -> *nodeInputsXxx.
	if params.Kind() != reflect.Pointer || params.Elem().Kind() != reflect.Struct {
		return nil, errors.Errorf("node %s: unexpected inputs kind %s", node.Type(), params.Kind())
	}
	f := params.Elem().FieldByName(field)
	if !f.IsValid() || f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Int {
		return nil, errors.Errorf("node %s has no []int parameter %q", node.Type(), field)
	}
	out := make([]int, f.Len())
	for i := range out {
		out[i] = int(f.Index(i).Int())
	}
	return out, nil
}

// nodeIntsParams reads several []int parameters of node at once (see nodeIntsParam).
func nodeIntsParams(node *Node, fields ...string) ([][]int, error) {
	out := make([][]int, len(fields))
	for i, field := range fields {
		var err error
		if out[i], err = nodeIntsParam(node, field); err != nil {
			return nil, err
		}
	}
	return out, nil
}
