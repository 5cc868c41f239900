package main

import "flag"

// dataFlags are the input-pipeline flags.
type dataFlags struct {
	dir        *string
	inspect    *bool
	inspectOut *string
	sampler    *string
	batchSize  *int
	seed       *uint64
	skipBad    *bool
	shardsDir  *string
	shards     *int
}

func registerDataFlags() *dataFlags {
	return &dataFlags{
		dir:        flag.String("data", "", "dataset directory: Kaggle layout (train.csv + train_images/), folder per class, or TFRecords; empty: the built-in synthetic leaves"),
		inspect:    flag.Bool("inspect", false, "print class counts before/after sampling and the first batches' class histograms, write a PNG grid of augmented samples, exit"),
		inspectOut: flag.String("inspect-out", "inspect.png", "where -inspect writes its PNG grid"),
		sampler:    flag.String("sampler", "oversample", "per-epoch sampling: oversample (the article's), balanced (every class in every batch), none"),
		batchSize:  flag.Int("batch", 32, "global batch size (split equally across devices)"),
		seed:       flag.Uint64("seed", 42, "seed of sampling and augmentation"),
		skipBad:    flag.Bool("skip-bad", false, "skip (and log) bad images and rows instead of stopping at the first"),
		shardsDir:  flag.String("write-tfrecords", "", "write -data as Kaggle-style TFRecord shards (ld_trainNN-count.tfrec) into this directory, then exit"),
		shards:     flag.Int("shards", 16, "number of TFRecord files -write-tfrecords makes"),
	}
}
