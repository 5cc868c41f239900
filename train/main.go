// Command train is supcon's command line: it wires flags to the packages that do the work
// (tpu: backends; model: EfficientNet and heads; model/pretrained: ImageNet weights; data: the input
// pipeline).
//
//	go run ./train -list-devices                 # which backend and devices would be used
//	go run ./train -model=b3 -summary            # the architecture, stage by stage
//	go run ./train -model=b3 -weights=F -summary # ... after loading ImageNet weights from F
//	go run ./train -data=DIR -inspect            # class counts, sampling, a PNG grid of augmented samples
//	go run ./train -data=DIR -write-tfrecords=OUT # pre-shard a data set into TFRecords
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/ui/commandline"
	"github.com/supcon-go/supcon/model"
	"github.com/supcon-go/supcon/model/pretrained"
	"github.com/supcon-go/supcon/tpu"
)

var (
	flagListDevices = flag.Bool("list-devices", false, "print the selected backend and its devices, then exit")
	flagModel       = flag.String("model", "b3", "EfficientNet variant: b0..b7 (width/depth overridable with -set)")
	flagSummary     = flag.Bool("summary", false, "print the encoder's architecture (shapes, parameters per stage) and exit")
	flagResolution  = flag.Int("resolution", 512, "input image size (square); the published EfficientNet size with -summary if 0")
	flagWeights     = flag.String("weights", "", "ImageNet weights: a .safetensors file in torchvision or timm naming")
	flagSettings    = flag.String("set", "", "hyperparameters as context settings, e.g. -set=\"efficientnet_drop_connect=0.3;efficientnet_padding=symmetric\"")
)

func main() {
	backendFlags := tpu.RegisterFlags(nil)
	dataFlags := registerDataFlags()
	flag.Parse()
	if err := run(backendFlags, dataFlags); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func run(backendFlags *tpu.Flags, dataFlags *dataFlags) error {
	ctx := context.New()
	ctx.SetParams(model.DefaultParams())
	if _, err := commandline.ParseContextSettings(ctx, *flagSettings); err != nil {
		return err
	}
	cfg, err := model.ConfigFromContext(ctx, *flagModel)
	if err != nil {
		return err
	}

	switch {
	case *dataFlags.inspect:
		return inspectData(dataFlags, *flagResolution)
	case *dataFlags.shardsDir != "":
		return writeShards(dataFlags)
	case *flagSummary && *flagWeights == "":
		return model.Summary(os.Stdout, cfg, *flagResolution)
	}

	backend, err := backendFlags.New(os.Stderr)
	if err != nil {
		return err
	}
	defer backend.Finalize()
	if *flagListDevices {
		return tpu.ListDevices(os.Stdout, backend)
	}
	if *flagWeights != "" {
		if err := pretrained.CreateVariables(backend, ctx, cfg); err != nil {
			return err
		}
		rep, err := pretrained.LoadFile(ctx, *flagWeights)
		if err != nil {
			return err
		}
		fmt.Printf("weights %s: %v naming (%v), variant %q, %d variables loaded, %d tensors ignored, padding %v, batch-norm eps %g\n",
			rep.Source, rep.Naming, rep.Family, rep.Variant, len(rep.Loaded), len(rep.Ignored), rep.Padding, rep.BatchNormEpsilon)
		rep.Apply(&cfg) // the padding and batch-norm epsilon the weights were trained with
		if *flagSummary {
			return model.Summary(os.Stdout, cfg, *flagResolution)
		}
		return nil
	}
	flag.Usage()
	return fmt.Errorf("nothing to do: pick -list-devices, -summary, -weights, -inspect or -write-tfrecords (training arrives with the recipe)")
}
