package ops

import (
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// stockVJP keeps GoMLX's own VJPs for the node types this package overrides: they are still the
// right choice on some backends (see sliceVJP), and benchmarks compare against them.
var stockVJP = map[NodeType]VJP{}

func init() {
	register := func(t NodeType, vjp VJP) {
		if old, ok := VJPRegistration[t]; ok {
			stockVJP[t] = old
		}
		VJPRegistration[t] = vjp
	}
	// Missing in SimpleGo (Pad, SelectAndScatter) or too slow (broadcast Mul + ReduceSum): see the functions' comments.
	register(NodeTypeSlice, singleOutput(sliceVJP))
	register(NodeTypeDotGeneral, singleOutput(dotGeneralVJP))
	register(NodeTypeDot, singleOutput(dotVJP))
	register(NodeTypeReduceWindow, singleOutput(reduceWindowVJP))
	// Missing in GoMLX v0.26.0 altogether: without them any gradient through these ops panics.
	register(NodeTypeRsqrt, singleOutput(rsqrtVJP))
	register(NodeTypeExpm1, singleOutput(expm1VJP))
	register(NodeTypeClamp, singleOutput(clampVJP))
}

// singleOutput adapts a VJP of a single-output op to GoMLX's multi-output VJP signature.
func singleOutput(fn func(node, v *Node) []*Node) VJP {
	return func(node *Node, vjps []*Node, _ shapes.Shape) []*Node {
		return fn(node, vjps[0])
	}
}

// backendHas reports whether the backend building node's graph implements op.
func backendHas(node *Node, op backends.OpType) bool {
	return node.Graph().Backend().Capabilities().Operations[op]
}
