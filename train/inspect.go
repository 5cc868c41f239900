package main

import (
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/supcon-go/supcon/data"
	"github.com/supcon-go/supcon/data/augment"
)

// openDataset opens -data, or the built-in synthetic leaves when it is empty.
func openDataset(f *dataFlags) (data.Dataset, error) {
	if *f.dir == "" {
		return data.Synthetic(data.SyntheticOptions{Seed: *f.seed, Total: 500})
	}
	return data.OpenWith(*f.dir, data.Options{SkipBad: *f.skipBad})
}

// inspectData prints what training will see and writes a grid of augmented samples (two views each).
func inspectData(f *dataFlags, resolution int) error {
	ds, err := openDataset(f)
	if err != nil {
		return err
	}
	sampler, err := data.NewSampler(*f.sampler, ds, *f.batchSize, *f.seed)
	if err != nil {
		return err
	}
	if err := data.Inspect(os.Stdout, ds, sampler, *f.batchSize, 4); err != nil {
		return err
	}
	const samples, views = 8, 2
	imgs, err := data.AugmentedSamples(ds, sampler, augment.Default(resolution), samples, views, *f.seed)
	if err != nil {
		return err
	}
	if err := data.SaveGrid(*f.inspectOut, imgs, 2*views); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d images x %d augmented views\n", *f.inspectOut, samples, views)
	return nil
}

// writeShards pre-shards -data into TFRecord files, as the article's pipeline read them.
func writeShards(f *dataFlags) error {
	ds, err := openDataset(f)
	if err != nil {
		return err
	}
	bar := progressbar.Default(int64(ds.Len()), "writing TFRecords")
	files, err := data.WriteTFRecords(ds, *f.shardsDir, "ld_train", *f.shards, func(done, _ int) {
		_ = bar.Set(done) // A progress bar that cannot draw is no reason to stop writing.
	})
	_ = bar.Finish()
	if err != nil {
		return err
	}
	fmt.Printf("wrote %d images into %d TFRecord files in %s\n", ds.Len(), len(files), *f.shardsDir)
	return nil
}
