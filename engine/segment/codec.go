package segment

import (
	"fmt"

	"github.com/klauspost/compress/snappy"
	"github.com/pierrec/lz4/v4"

	"github.com/kalamdb/libkalam/engine/zstdc"
)

// decompressAll is decompress for each job, zstd in one call into libzstd
// (see zstdc.DecompressAll). It returns the index of the first job that
// failed with its error, or -1 and nil.
func decompressAll(codec int32, jobs []zstdc.Job) (int, error) {
	if codec == codecZstd {
		return zstdc.DecompressAll(jobs)
	}
	for i, j := range jobs {
		if err := decompress(codec, j.Dst, j.Src); err != nil {
			return i, err
		}
	}
	return -1, nil
}

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
		// libzstd writes at most len(dst) bytes and Decompress rejects
		// anything but exactly that many.
		return zstdc.Decompress(dst, src)
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
