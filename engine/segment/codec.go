package segment

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// zstdPool holds single-goroutine decoders. Each is limited to the
// capacity of the buffer it decodes into (the page header's uncompressed
// size), so a frame that claims more content cannot make it allocate.
var zstdPool = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxWindow(64<<20))
	if err != nil {
		return err
	}
	return d
}}

// decompress decodes src (compressed with codec) into dst, whose length is
// the size the page header promises; anything else is corrupt.
func decompress(codec int32, dst, src []byte) error {
	switch codec {
	case codecUncompressed:
		if len(src) != len(dst) {
			return fmt.Errorf("uncompressed page of %d bytes claims %d", len(src), len(dst))
		}
		copy(dst, src)
		return nil
	case codecSnappy:
		n, err := snappy.DecodedLen(src)
		if err != nil {
			return fmt.Errorf("snappy: %v", err)
		}
		if n != len(dst) {
			return fmt.Errorf("snappy block of %d bytes, header says %d", n, len(dst))
		}
		out, err := snappy.Decode(dst, src)
		if err != nil {
			return fmt.Errorf("snappy: %v", err)
		}
		if len(out) != len(dst) {
			return fmt.Errorf("snappy decoded %d bytes, header says %d", len(out), len(dst))
		}
		return nil
	case codecZstd:
		v := zstdPool.Get()
		d, ok := v.(*zstd.Decoder)
		if !ok {
			return fmt.Errorf("zstd decoder: %v", v)
		}
		// The cap limit bounds the output by cap(dst) (size plus the
		// caller's slack); the length check below rejects any excess.
		out, err := d.DecodeAll(src, dst[:0])
		zstdPool.Put(d)
		if err != nil {
			return fmt.Errorf("zstd: %v", err)
		}
		if len(out) != len(dst) || (len(out) > 0 && &out[0] != &dst[0]) {
			return fmt.Errorf("zstd decoded %d bytes, header says %d", len(out), len(dst))
		}
		return nil
	case codecLZ4Raw:
		if len(dst) == 0 {
			// pierrec/lz4 dereferences dst: an empty page is a lone
			// zero token (or nothing), never a longer block.
			if len(src) > 1 || (len(src) == 1 && src[0] != 0) {
				return fmt.Errorf("lz4_raw block of %d bytes for an empty page", len(src))
			}
			return nil
		}
		n, err := lz4.UncompressBlock(src, dst)
		if err != nil {
			return fmt.Errorf("lz4_raw: %v", err)
		}
		if n != len(dst) {
			return fmt.Errorf("lz4_raw decoded %d bytes, header says %d", n, len(dst))
		}
		return nil
	}
	return fmt.Errorf("codec %s: %w", nameOr(codecNames, codec), ErrUnsupported)
}
