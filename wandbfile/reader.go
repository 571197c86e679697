package wandbfile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Layout constants of the LevelDB log format as used by wandb.
const (
	headerLen      = 7     // W&B file header and chunk header are both 7 bytes
	blockSize      = 32768 // LevelDB block
	maxPayload     = blockSize - headerLen
	shiftedOffset  = headerLen // wandb-core <= 0.17.5 started block 0 after the file header
	readBufferSize = 256 << 10 // large reads; must hold the detection window
	// detectWindow is how much of the file is parsed in both layouts to pick one. Four blocks
	// give four chances for the layouts to disagree; a 7-byte-shifted log only parses cleanly
	// in the normal layout if every boundary happens to line up, which real files do not.
	detectWindow = 4*blockSize + headerLen

	maxHeaderVersion = 1
)

const (
	chunkFull   = 1
	chunkFirst  = 2
	chunkMiddle = 3
	chunkLast   = 4
)

var wandbIdent = []byte{':', 'W', '&', 'B', 0xe1, 0xbe}

// ReadFile reads the .wandb log at path. See Read for the error contract.
func ReadFile(path string, opts Options) (*Info, error) {
	f, st, err := OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("open .wandb log: %w", err)
	}
	defer f.Close()
	info, err := read(f, opts, bufferFor(st.Size()))
	if info != nil {
		info.Path = path
	}
	if err != nil {
		return info, fmt.Errorf("%s: %w", path, err)
	}
	return info, nil
}

// Read reads a .wandb log from r to its end.
//
// The returned error is only ErrNotWandb (empty file, short or foreign header),
// *UnsupportedVersionError, or an I/O error from r; on an I/O error after the header the Info read
// so far is returned with it. Corruption is not an error: it is reported in Info.Err, and a file
// that ends inside a record sets Info.TornTail. A file holding only the header yields an Info
// with no records.
func Read(r io.Reader, opts Options) (*Info, error) {
	return read(r, opts, readBufferSize)
}

// read needs a buffer that holds the whole layout-detection window, or the
// whole file when it is smaller than that.
func read(r io.Reader, opts Options, bufSize int) (*Info, error) {
	info, _, err := readState(r, opts, bufSize)
	return info, err
}

// readState is read that also returns the reader's state at the end, for a
// Cursor to go on from (nil when the header could not be read).
func readState(r io.Reader, opts Options, bufSize int) (*Info, *chunkReader, error) {
	cr := &countingReader{r: r}
	br := bufio.NewReaderSize(cr, bufSize)
	hdr, err := br.Peek(headerLen)
	if len(hdr) < headerLen {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("read header: %w", err)
		}
		if len(hdr) == 0 {
			return nil, nil, fmt.Errorf("empty file: %w", ErrNotWandb)
		}
		return nil, nil, fmt.Errorf("file too short for a header (%d bytes): %w", len(hdr), ErrNotWandb)
	}
	if !bytes.Equal(hdr[:6], wandbIdent) {
		return nil, nil, fmt.Errorf("bad ident or magic %x: %w", hdr[:6], ErrNotWandb)
	}
	if v := int(hdr[6]); v > maxHeaderVersion {
		return nil, nil, &UnsupportedVersionError{Version: v}
	}
	rd := newRecordReader(opts)
	rd.info.HeaderVersion = int(hdr[6])
	if _, err := br.Discard(headerLen); err != nil {
		return nil, nil, fmt.Errorf("read header: %w", err)
	}

	window, err := br.Peek(detectWindow)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, nil, fmt.Errorf("read log: %w", err)
	}
	shift := detectShift(window)

	c := chunkReader{br: br, rd: rd, shift: shift, pos: headerLen}
	ioErr := c.run()
	info := rd.finish()
	info.Shifted = shift != 0
	info.Size = cr.n
	info.GoodOffset = c.good
	if ioErr != nil {
		return info, &c, fmt.Errorf("read log: %w", ioErr)
	}
	return info, &c, nil
}

// countingReader counts the bytes read, which is Info.Size.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// blockEnd returns the file offset where the block holding pos ends, for blocks starting at
// shift + k*blockSize (block 0 starts at file offset 0 and holds the file header).
func blockEnd(pos int64, shift int64) int64 {
	return shift + ((pos-shift)/blockSize+1)*blockSize
}

// chunkReader walks the chunks of a log, reassembles records and hands them to a recordReader.
type chunkReader struct {
	br    *bufio.Reader
	rd    *recordReader
	shift int64
	pos   int64 // file offset of the next unread byte
	good  int64 // file offset after the last complete record

	rec      []byte // payload of the fragmented record being assembled
	recStart int64  // file offset of its FIRST chunk
	inRecord bool   // a FIRST chunk was read and its LAST chunk was not
	resync   bool   // after corruption: skip MIDDLE/LAST chunks until a FULL or FIRST chunk
}

// run reads chunks until the end of the input. It returns only I/O errors.
func (c *chunkReader) run() error {
	c.good = c.pos
	for {
		end := blockEnd(c.pos, c.shift)
		left := end - c.pos
		if left < headerLen {
			// Writers zero-fill the tail of a block too short for a chunk header.
			done, err := c.skip(left)
			if done || err != nil {
				return err
			}
			continue
		}
		hdr, err := c.br.Peek(headerLen)
		if len(hdr) < headerLen {
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			// A few bytes of a chunk header, or nothing, at the end of the file. Trailing
			// zeros outside a record are left-over padding, not a torn record.
			if c.inRecord || !allZero(hdr) {
				c.rd.info.TornTail = true
			}
			return nil
		}
		crc := binary.LittleEndian.Uint32(hdr[0:4])
		length := int64(binary.LittleEndian.Uint16(hdr[4:6]))
		typ := hdr[6]
		if crc == 0 && length == 0 && typ == 0 {
			if c.inRecord {
				c.corrupt(c.pos, "zeroed chunk header inside a fragmented record")
			}
			// A zeroed block (preallocated or mmap-created file): nothing more in it.
			done, err := c.skip(left)
			if done || err != nil {
				return err
			}
			continue
		}
		if typ < chunkFull || typ > chunkLast {
			c.corrupt(c.pos, fmt.Sprintf("bad chunk type %d", typ))
			done, err := c.skip(left)
			if done || err != nil {
				return err
			}
			continue
		}
		if headerLen+length > left {
			c.corrupt(c.pos, fmt.Sprintf("chunk length %d runs past the block end", length))
			done, err := c.skip(left)
			if done || err != nil {
				return err
			}
			continue
		}
		n := int(headerLen + length)
		if n > c.br.Size() {
			// The buffer holds a whole block, or the whole file when it is
			// smaller: a chunk longer than the buffer runs past the end.
			c.rd.info.TornTail = true
			return nil
		}
		chunk, err := c.br.Peek(n)
		if len(chunk) < n {
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			// The file ends inside this chunk: a killed writer, or one still writing.
			c.rd.info.TornTail = true
			return nil
		}
		if crc32.ChecksumIEEE(chunk[6:n]) != crc {
			c.corrupt(c.pos, "checksum mismatch")
			done, err := c.skip(left)
			if done || err != nil {
				return err
			}
			continue
		}
		c.chunk(typ, chunk[headerLen:n], c.pos, c.pos+int64(n))
		if _, err := c.br.Discard(n); err != nil {
			return err
		}
		c.pos += int64(n)
	}
}

func (c *chunkReader) maxRecord() int {
	if m := c.rd.opts.MaxRecord; m > 0 {
		return m
	}
	return DefaultMaxRecord
}

// chunk handles one valid chunk spanning file offsets [start, end).
func (c *chunkReader) chunk(typ byte, payload []byte, start, end int64) {
	switch typ {
	case chunkFull, chunkFirst:
		if c.inRecord {
			c.corrupt(c.recStart, "fragmented record without a LAST chunk")
		}
		c.resync = false
		if typ == chunkFull {
			c.inRecord = false
			c.rd.record(payload, start)
			c.good = end
			return
		}
		c.rec = append(c.rec[:0], payload...)
		c.recStart = start
		c.inRecord = true
	case chunkMiddle, chunkLast:
		if !c.inRecord {
			if !c.resync {
				c.corrupt(start, fmt.Sprintf("%s chunk without a FIRST chunk", chunkName(typ)))
			}
			return
		}
		if len(c.rec)+len(payload) > c.maxRecord() {
			c.corrupt(c.recStart, fmt.Sprintf("record larger than %d bytes: dropped", c.maxRecord()))
			c.rec = nil // give the memory back
			return
		}
		if need := len(c.rec) + len(payload); need > cap(c.rec) {
			// Grow by doubling, but never past the limit: append's own
			// growth would reserve up to twice the limit.
			grown := make([]byte, len(c.rec), min(max(2*cap(c.rec), need), c.maxRecord()))
			copy(grown, c.rec)
			c.rec = grown
		}
		c.rec = append(c.rec, payload...)
		if typ == chunkLast {
			c.inRecord = false
			c.rd.record(c.rec, c.recStart)
			c.good = end
		}
	}
}

// corrupt records the first corruption and makes the reader drop any partial record and look
// for the next record start.
func (c *chunkReader) corrupt(offset int64, reason string) {
	if c.rd.info.Err == nil {
		c.rd.info.Err = &ReadError{Offset: offset, Reason: reason}
	}
	c.inRecord = false
	c.resync = true
}

// skip discards n bytes; done reports the end of the input.
func (c *chunkReader) skip(n int64) (done bool, err error) {
	got, err := c.br.Discard(int(n))
	c.pos += int64(got)
	if err != nil {
		if errors.Is(err, io.EOF) {
			if c.inRecord {
				c.rd.info.TornTail = true
			}
			return true, nil
		}
		return true, err
	}
	return false, nil
}

func chunkName(typ byte) string {
	switch typ {
	case chunkFull:
		return "FULL"
	case chunkFirst:
		return "FIRST"
	case chunkMiddle:
		return "MIDDLE"
	case chunkLast:
		return "LAST"
	}
	return fmt.Sprintf("type-%d", typ)
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// detectShift picks the block layout from the first bytes after the file header (window starts
// at file offset 7). Both layouts agree until a chunk reaches the end of block 0, so the window
// is parsed in each and the layout whose first inconsistency comes later wins; a tie (no
// inconsistency, or real corruption before the first boundary) keeps the normal layout.
func detectShift(window []byte) int64 {
	normal := firstInconsistency(window, 0)
	if normal < 0 {
		return 0
	}
	shifted := firstInconsistency(window, shiftedOffset)
	if shifted < 0 || shifted > normal {
		return shiftedOffset
	}
	return 0
}

// firstInconsistency parses the chunks in window (file offsets from 7) in the layout given by
// shift and returns the file offset of the first chunk that cannot be valid there (bad
// padding, type, length, checksum or fragment order), or -1 if none. A chunk cut off by the end
// of the window is not an inconsistency.
func firstInconsistency(window []byte, shift int64) int64 {
	pos := int64(headerLen)
	limit := pos + int64(len(window))
	inRecord := false
	for pos < limit {
		at := window[pos-headerLen:]
		left := blockEnd(pos, shift) - pos
		if left < headerLen {
			if int64(len(at)) > left {
				at = at[:left]
			}
			if !allZero(at) {
				return pos
			}
			pos += left
			continue
		}
		if len(at) < headerLen {
			return -1
		}
		crc := binary.LittleEndian.Uint32(at[0:4])
		length := int64(binary.LittleEndian.Uint16(at[4:6]))
		typ := at[6]
		if crc == 0 && length == 0 && typ == 0 {
			if inRecord {
				return pos
			}
			pos += left
			continue
		}
		if typ < chunkFull || typ > chunkLast || headerLen+length > left {
			return pos
		}
		if int64(len(at)) < headerLen+length {
			return -1
		}
		if crc32.ChecksumIEEE(at[6:headerLen+length]) != crc {
			return pos
		}
		switch typ {
		case chunkFull, chunkFirst:
			if inRecord {
				return pos
			}
			inRecord = typ == chunkFirst
		default:
			if !inRecord {
				return pos
			}
			inRecord = typ == chunkMiddle
		}
		pos += headerLen + length
	}
	return -1
}
