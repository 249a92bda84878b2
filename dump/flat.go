package dump

import (
	"context"
	"io"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// WriteKdumpFlat writes the kdump-compressed file WriteKdump would write
// as a flattened stream (makedumpfile -F) to out, for pipes and ssh.
// Rearranging the stream (makedumpfile -R) gives exactly the file
// WriteKdump writes. Unlike makedumpfile -F, a dump that stops early
// still gets its incomplete flag: the header patch is one more record,
// which -R applies last.
func WriteKdumpFlat(ctx context.Context, src vmcore.Dump, p *filter.Plan, m codec.Method, out io.Writer) error {
	return WriteKdumpFlatWith(ctx, src, p, m, out, Options{})
}

// WriteKdumpFlatWith is WriteKdumpFlat run by the engine as opt says.
func WriteKdumpFlatWith(ctx context.Context, src vmcore.Dump, p *filter.Plan, m codec.Method, out io.Writer, opt Options) error {
	fw, err := kdumpfile.NewFlatWriter(out)
	if err != nil {
		return err
	}
	if err := WriteKdumpWith(ctx, src, p, m, fw, opt); err != nil {
		// The end marker goes out even after an error (unless the
		// stream itself failed), so that the pages before the
		// failure can be used.
		fw.Close()
		return err
	}
	return fw.Close()
}
