package wandbfile

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
)

// ExitRecord is a Record holding only RunExitRecord{exit_code: code}: what
// `wandb beta sync` makes up for a log without one, so W&B shows the run as
// crashed.
func ExitRecord(code int32) []byte {
	var exit []byte
	if code != 0 {
		exit = protowire.AppendTag(exit, 1, protowire.VarintType)
		exit = protowire.AppendVarint(exit, uint64(int64(code)))
	}
	rec := protowire.AppendTag(nil, 18, protowire.BytesType) // Record.exit
	return protowire.AppendBytes(rec, exit)
}

// AppendRecord writes one record to w, which continues a log that ends at
// file offset end on a record boundary, in that log's block layout (shifted
// for wandb-core <= 0.17.5): chunks never cross a block, and fewer than 7
// bytes left in a block are zero padding, as wandb's writers do.
func AppendRecord(w io.Writer, end int64, shifted bool, payload []byte) error {
	var shift int64
	if shifted {
		shift = headerLen
	}
	if end < headerLen {
		return fmt.Errorf("append record: offset %d is inside the file header", end)
	}
	pos, rest, first := end, payload, true
	for {
		left := blockSize - (pos-shift)%blockSize
		if left < headerLen {
			if _, err := w.Write(make([]byte, left)); err != nil {
				return fmt.Errorf("append record: %w", err)
			}
			pos += left
			continue
		}
		n := min(int64(len(rest)), left-headerLen)
		last := n == int64(len(rest))
		typ := byte(chunkMiddle)
		switch {
		case first && last:
			typ = chunkFull
		case first:
			typ = chunkFirst
		case last:
			typ = chunkLast
		}
		var hdr [headerLen]byte
		crc := crc32.Update(crc32.ChecksumIEEE([]byte{typ}), crc32.IEEETable, rest[:n])
		binary.LittleEndian.PutUint32(hdr[0:4], crc)
		binary.LittleEndian.PutUint16(hdr[4:6], uint16(n))
		hdr[6] = typ
		if _, err := w.Write(hdr[:]); err != nil {
			return fmt.Errorf("append record: %w", err)
		}
		if _, err := w.Write(rest[:n]); err != nil {
			return fmt.Errorf("append record: %w", err)
		}
		pos += headerLen + n
		rest, first = rest[n:], false
		if last {
			return nil
		}
	}
}
