package data

import (
	"context"
	"image"
	"image/color"

	"github.com/supcon-go/supcon/data/augment"
)

// AugmentedSamples runs the first n images of epoch 0 of order through the training pipeline with
// augmentation cfg (its Scaling replaced by [0,1], so the pixels can be shown) and returns every view
// of each as an image: what the model is shown, for -inspect's grid.
func AugmentedSamples(ds Dataset, order Order, cfg augment.Config, n, views int, seed uint64) ([]image.Image, error) {
	cfg.Scaling = augment.ScaleUnit
	if order != nil {
		order = previewOrder{order}
	}
	p, err := NewPipeline(context.Background(), ds, PipelineOptions{
		BatchSize: n, Views: views, Augment: cfg, Order: order, Seed: seed, Epochs: 1, Workers: 0,
	})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	b, err := p.Next()
	if err != nil {
		return nil, err
	}
	imgs := make([]image.Image, 0, b.Valid*b.Views)
	plane := b.Height * b.Width * 3
	for i := range b.Valid * b.Views {
		img := image.NewRGBA(image.Rect(0, 0, b.Width, b.Height))
		px := b.Images[i*plane : (i+1)*plane]
		for y := range b.Height {
			for x := range b.Width {
				o := (y*b.Width + x) * 3
				img.SetRGBA(x, y, color.RGBA{toByte(px[o]), toByte(px[o+1]), toByte(px[o+2]), 255})
			}
		}
		imgs = append(imgs, img)
	}
	return imgs, nil
}

func toByte(v float32) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 1:
		return 255
	}
	return uint8(v*255 + 0.5)
}

// previewOrder shows only Epoch of an Order: the preview takes the first n images of the epoch even
// when n cuts across a balanced sampler's runs, which NewPipeline refuses for training batches.
type previewOrder struct{ Order }
