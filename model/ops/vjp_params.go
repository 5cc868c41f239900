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
// error, the gradient build fails with a message naming the field, and TestNodeParams fails.
func nodeIntsParam(node *Node, field string) ([]int, error) {
	f, err := nodeField(node, field)
	if err != nil {
		return nil, err
	}
	if f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Int {
		return nil, errors.Errorf("node %s parameter %q is not a []int", node.Type(), field)
	}
	out := make([]int, f.Len())
	for i := range out {
		out[i] = int(f.Index(i).Int())
	}
	return out, nil
}

// nodeField returns the (read-only) field of node's parameters struct.
func nodeField(node *Node, field string) (reflect.Value, error) {
	inputs := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !inputs.IsValid() || inputs.IsNil() {
		return reflect.Value{}, errors.Errorf("node %s has no inputs field", node.Type())
	}
	params := inputs.Elem() // Interface -> *nodeInputsXxx.
	if params.Kind() != reflect.Pointer || params.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, errors.Errorf("node %s: unexpected inputs kind %s", node.Type(), params.Kind())
	}
	f := params.Elem().FieldByName(field)
	if !f.IsValid() {
		return reflect.Value{}, errors.Errorf("node %s has no parameter %q", node.Type(), field)
	}
	return f, nil
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

// nodeIntParam reads a static integer parameter (of any integer kind, e.g. an enum such as a
// ReduceWindow node's "reductionType") of node. See nodeIntsParam for why reflection.
func nodeIntParam(node *Node, field string) (int, error) {
	f, err := nodeField(node, field)
	if err != nil {
		return 0, err
	}
	switch f.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(f.Int()), nil
	}
	return 0, errors.Errorf("node %s parameter %q is a %s, not an integer", node.Type(), field, f.Kind())
}

// nodePairsParam reads a static [][2]int parameter (e.g. "paddings") of node.
func nodePairsParam(node *Node, field string) ([][2]int, error) {
	f, err := nodeField(node, field)
	if err != nil {
		return nil, err
	}
	if f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Array || f.Type().Elem().Len() != 2 {
		return nil, errors.Errorf("node %s parameter %q is not a [][2]int", node.Type(), field)
	}
	out := make([][2]int, f.Len())
	for i := range out {
		out[i] = [2]int{int(f.Index(i).Index(0).Int()), int(f.Index(i).Index(1).Int())}
	}
	return out, nil
}
