package stream

import (
	"fmt"
	"io"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

func init() {
	codec.RegisterStreamReader(codec.StreamXZ, func(r io.Reader) (io.Reader, error) {
		return xz.NewReader(r)
	})
	codec.RegisterStreamReader(codec.StreamLZ4, func(r io.Reader) (io.Reader, error) {
		return lz4.NewReader(r), nil
	})
}

// NewWriter returns a writer that wraps what is written to it in
// container s and writes it to w. Close ends the container; it does not
// close w. codec.StreamNone passes the bytes through.
func NewWriter(w io.Writer, s codec.Stream) (io.WriteCloser, error) {
	switch s {
	case codec.StreamNone:
		return nopCloser{w}, nil
	case codec.StreamXZ:
		// A 1 MiB dictionary, as `xz -1` uses: the pure-Go encoder
		// with its default 8 MiB is about 2.5 times slower, for little
		// gain on dump streams (much of which is page-compressed).
		xw, err := xz.WriterConfig{DictCap: 1 << 20}.NewWriter(w)
		if err != nil {
			return nil, fmt.Errorf("xz stream: %w", err)
		}
		return xw, nil
	case codec.StreamLZ4:
		return lz4.NewWriter(w), nil
	}
	return nil, fmt.Errorf("%v: unknown stream container", s)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
