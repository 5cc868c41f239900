package pretrained

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/supcon-go/supcon/model"
)

// CreateVariables creates the encoder variables of cfg in ctx (without values: they are
// initialised as usual if nothing fills them) by building, not running, the encoder graph
// once on a dummy input. It lets a trainer load weights before its training graph exists.
// As after loading a checkpoint, the graphs built afterwards must use ctx.Reuse() (GoMLX
// contexts refuse to re-create an existing variable); the variables' shapes do not depend on
// the input size.
func CreateVariables(backend backends.Backend, ctx *context.Context, cfg model.Config) (err error) {
	// GoMLX reports graph-building errors by panicking.
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("pretrained: building the encoder to create its variables: %w", e)
			} else {
				err = fmt.Errorf("pretrained: building the encoder to create its variables: %v", r)
			}
		}
	}()
	g := graph.NewGraph(backend, "pretrained.CreateVariables")
	defer g.Finalize()
	// 32x32 survives the five stride-2 stages (32 -> 1) with every padding.
	images := graph.Parameter(g, "images", shapes.Make(dtypes.Float32, 1, 32, 32, 3))
	model.Encoder(ctx, cfg, images)
	return nil
}
