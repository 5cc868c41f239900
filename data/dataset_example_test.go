package data_test

import (
	"fmt"
	"log"
	"os"

	"github.com/supcon-go/supcon/data"
)

// A 100-image synthetic stand-in for Cassava has its class proportions: 21397 images scaled to 100
// (CMD's 61.49 rounds up, being the largest remainder, so the counts sum to 100).
func ExampleSynthetic() {
	ds, err := data.Synthetic(data.SyntheticOptions{Seed: 1, Total: 100})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ds.Classes(), data.ClassCounts(ds))
	// Output: [CBB CBSD CGM CMD Healthy] [5 10 11 62 12]
}

// The usual path from a directory to training order: open (any layout), split, oversample, inspect.
func ExampleOpen() {
	ds, err := data.OpenWith("/path/to/cassava", data.Options{SkipBad: true})
	if err != nil {
		log.Fatal(err)
	}
	train, val, err := data.StratifiedSplit(ds, 0.2, 42)
	if err != nil {
		log.Fatal(err)
	}
	trainSet := data.Subset(ds, train)
	sampler, err := data.NewSampler(data.SampleOversample, trainSet, 32, 42)
	if err != nil {
		log.Fatal(err)
	}
	if err := data.Inspect(os.Stdout, trainSet, sampler, 32, 4); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(val), "validation images; epoch 0 order:", sampler.Epoch(0)[:8])
}
