package model

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX's idiom for graph code.
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
	"github.com/pkg/errors"
)

// Context hyperparameters of the heads (defaults in DefaultParams).
const (
	// ParamProjectionMLP selects the paper's projection MLP (Dense hidden, relu, Dense dim) instead
	// of the article's single Dense + relu (see ProjectionHeadFromContext).
	ParamProjectionMLP = "projection_mlp"
	// ParamProjectionDim is the size of the projection (128).
	ParamProjectionDim = "projection_dim"
	// ParamProjectionHidden is the hidden size of the projection MLP (2048).
	ParamProjectionHidden = "projection_hidden_dim"
	// ParamClassifierHidden is the hidden size of the classifier (1000).
	ParamClassifierHidden = "classifier_hidden_dim"
	// ParamClassifierDropout is the dropout rate before each classifier Dense, in training (0.5).
	ParamClassifierDropout = "classifier_dropout"
)

// Scopes of the heads' variables.
const (
	ProjectionScope = "projection"
	ClassifierScope = "classifier"
)

// ProjectionHead maps encoder features [B, F] to the SupCon projection [B, projection_dim]:
// the article's Dense + relu (variables projection/dense/{weights,biases}), or with mlp the
// paper's Dense(projection_hidden_dim) + relu + Dense(projection_dim) (projection/hidden, then
// projection/dense, the last without activation). The output is not normalised: the loss
// L2-normalises it. Weights are initialised as the article's (see kerasDense).
func ProjectionHead(ctx *context.Context, features *Node, mlp bool) *Node {
	checkFeatures("ProjectionHead", features)
	ctx = kerasDense(ctx.In(ProjectionScope))
	dim := positiveParam(ctx, ParamProjectionDim, 128)
	if !mlp {
		return activations.Relu(dense(ctx.In("dense"), features, dim))
	}
	hidden := activations.Relu(dense(ctx.In("hidden"), features, positiveParam(ctx, ParamProjectionHidden, 2048)))
	return dense(ctx.In("dense"), hidden, dim)
}

// ProjectionHeadFromContext is ProjectionHead with mlp read from the projection_mlp hyperparameter.
func ProjectionHeadFromContext(ctx *context.Context, features *Node) *Node {
	return ProjectionHead(ctx, features, context.GetParamOr(ctx, ParamProjectionMLP, false))
}

// ClassifierHead maps encoder features [B, F] to logits [B, numClasses]: dropout,
// Dense(classifier_hidden_dim) + relu (classifier/hidden), dropout, Dense(numClasses)
// (classifier/output). Dropout (rate classifier_dropout) only when ctx.IsTraining. Weights are
// initialised as the article's (see kerasDense).
func ClassifierHead(ctx *context.Context, features *Node, numClasses int) *Node {
	checkFeatures("ClassifierHead", features)
	if numClasses < 1 {
		panic(errors.Errorf("ClassifierHead: number of classes must be >= 1, got %d", numClasses))
	}
	ctx = kerasDense(ctx.In(ClassifierScope))
	rate := context.GetParamOr(ctx, ParamClassifierDropout, 0.5)
	if !(rate >= 0 && rate < 1) {
		panic(errors.Errorf("%s=%g: must be in [0, 1)", ParamClassifierDropout, rate))
	}
	training := ctx.IsTraining(features.Graph()) && rate > 0
	x := features
	if training {
		x = dropout(ctx, x, rate)
	}
	x = activations.Relu(dense(ctx.In("hidden"), x, positiveParam(ctx, ParamClassifierHidden, 1000)))
	if training {
		x = dropout(ctx, x, rate)
	}
	return dense(ctx.In("output"), x, numClasses)
}

// kerasDense gives the heads' variables the initialisation of Keras' Dense, which the article's
// heads use: Glorot-uniform weights and zero biases. The context's default (GoMLX's He-normal, or
// whatever a caller set for the encoder) would give the heads another starting point than the
// recipe's; pretrained or restored values still replace it.
func kerasDense(ctx *context.Context) *context.Context {
	return ctx.WithInitializer(initializers.GlorotUniformFn(ctx))
}

func checkFeatures(who string, features *Node) {
	if features.Rank() != 2 || !features.DType().IsFloat() {
		panic(errors.Errorf("%s: features must be float [batch, features], got %s", who, features.Shape()))
	}
}

// positiveParam reads an int hyperparameter that must be >= 1.
func positiveParam(ctx *context.Context, key string, def int) int {
	v := context.GetParamOr(ctx, key, def)
	if v < 1 {
		panic(errors.Errorf("hyperparameter %s=%d: must be >= 1", key, v))
	}
	return v
}
