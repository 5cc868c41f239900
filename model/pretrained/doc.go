// Package pretrained loads ImageNet weights into model.Encoder's variables from .safetensors
// files in torchvision's (features.S.B.block.I...) or timm's (conv_stem, blocks.S.B...) naming.
//
// Files are parsed by github.com/nlpodyssey/safetensors (a port of the reference implementation,
// which validates header and offsets). The naming is detected from the tensor names; PyTorch
// layouts are converted to ours (OIHW -> HWIO, depthwise [C,1,k,k] -> [k,k,1,C], 1x1 and SE
// [O,I,1,1] -> [I,O]); anything that does not fit — an unused tensor, an unfilled variable, a
// shape mismatch — fails the whole load with one *LoadError listing every problem.
//
// The weights only mean what they meant in training with the same padding and batch-norm
// epsilon: the Report says both (torchvision and timm's efficientnet_*: symmetric padding;
// timm's tf_efficientnet_*: SAME; epsilon 1e-5 for torchvision's b0-b4 and timm's
// efficientnet_*, 1e-3 otherwise), and Report.Apply sets them in the caller's model.Config.
// The tensors themselves are loaded unchanged.
//
// Typical use, before the training graph exists:
//
//	cfg, _ := model.ConfigFor("b3")
//	_ = pretrained.CreateVariables(backend, ctx, cfg)
//	rep, err := pretrained.LoadFile(ctx, "efficientnet_b3.safetensors")
//	rep.Apply(&cfg) // padding and batch-norm epsilon
//	// build the training graph with ctx.Reuse() and cfg
//
// Real weights: torchvision's .pth converted by convert_torchvision.py in this directory, or
// timm's Hugging Face model.safetensors (keep timm's model name in the path, or set Options.Timm).
package pretrained
