package source

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A Parquet file's footer, its page index and its page headers are Thrift
// structures in the compact protocol, and they declare lengths: a list's
// element count, a string's byte count. The Parquet library allocates what
// a list declares before it reads an element, so a 19-byte file whose
// footer claims 2^31-1 schema elements would make it ask for hundreds of
// gigabytes, and the Go runtime ends the whole worker when it cannot have
// them. checkThrift walks such bytes first, with no knowledge of the
// schema: field by field, by wire type, into structs, lists, sets and maps,
// checking each declared length against the bytes that are left and
// counting what the decoded values would take.

// thriftMaxDepth bounds how deep structures, lists, sets and maps nest.
// Parquet's own nest fewer than ten levels; deeper is not a Parquet file.
const thriftMaxDepth = 64

// What one structure in a list is counted to take once decoded: at least
// the largest structure a list holds, in a footer (a column chunk, 560
// bytes), and in a page index (a page location, 24 bytes).
const (
	footerStructCost    = 576
	pageIndexStructCost = 64
)

// errThriftBudget says that what a structure declares, decoded, would
// take more memory than it may.
var errThriftBudget = errors.New("over the budget")

// thriftShort is a structure that declares more bytes than it was given:
// need is how many it would take at least, from its start. For bytes cut
// from a longer source (a page header read a few hundred bytes at a time)
// it asks for more; otherwise it is malformed.
type thriftShort struct {
	need int64
	msg  string
}

func (e *thriftShort) Error() string { return e.msg }

// Compact-protocol wire types.
const (
	tStop   = 0
	tTrue   = 1
	tFalse  = 2
	tByte   = 3
	tI16    = 4
	tI32    = 5
	tI64    = 6
	tDouble = 7
	tBinary = 8
	tList   = 9
	tSet    = 10
	tMap    = 11
	tStruct = 12
	tUUID   = 13
)

// thriftWalk walks compact-protocol bytes.
type thriftWalk struct {
	b          []byte
	off        int
	budget     int64 // bytes the decoded containers may still take
	structCost int64 // what a structure in a list is counted to take
}

// checkThrift walks the structure at the start of b, and returns the bytes
// it takes. budget is what its lists, sets and maps may take decoded (each
// structure in one counted as structCost), and is lowered by what they do;
// errThriftBudget if they would take more. Any other error is a sentence
// that says what is wrong ("a list declares 2147483647 elements with 0
// bytes left").
func checkThrift(b []byte, budget *int64, structCost int64) (int, error) {
	w := thriftWalk{b: b, budget: *budget, structCost: structCost}
	err := w.value(tStruct, 1)
	*budget = w.budget
	return w.off, err
}

func (w *thriftWalk) left() int { return len(w.b) - w.off }

func (w *thriftWalk) byte1() (byte, error) {
	if w.off >= len(w.b) {
		return 0, w.cut()
	}
	w.off++
	return w.b[w.off-1], nil
}

func (w *thriftWalk) cut() error {
	return &thriftShort{need: int64(len(w.b)) + 1, msg: fmt.Sprintf("it ends in the middle of a value, at byte %d", len(w.b))}
}

// short is a value (what) that declares n units (unit) of size bytes
// each, more than are left.
func (w *thriftWalk) short(what, unit string, n uint64, size int) error {
	return &thriftShort{need: int64(w.off) + int64(n)*int64(size), msg: fmt.Sprintf("%s declares %d %s with %d bytes left", what, n, unit, w.left())}
}

// uvarint reads a varint of at most bits bits.
func (w *thriftWalk) uvarint(bits uint) (uint64, error) {
	v, n := binary.Uvarint(w.b[w.off:])
	switch {
	case n == 0:
		return 0, w.cut()
	case n < 0 || bits < 64 && v >= 1<<bits:
		return 0, fmt.Errorf("a number at byte %d is longer than %d bits", w.off, bits)
	}
	w.off += n
	return v, nil
}

// skip passes n bytes of a value whose size the wire type fixes.
func (w *thriftWalk) skip(n int) error {
	if w.left() < n {
		w.off = len(w.b)
		return w.cut()
	}
	w.off += n
	return nil
}

// minSize is the fewest bytes a value of type t takes as an element of a
// list, set or map; cost what it is counted to take decoded.
func (w *thriftWalk) minSize(t byte) (size int, cost int64, ok bool) {
	switch t {
	case tTrue, tFalse, tByte:
		return 1, 1, true
	case tI16, tI32:
		return 1, 4, true
	case tI64:
		return 1, 8, true
	case tDouble:
		return 8, 8, true
	case tUUID:
		return 16, 16, true
	case tBinary, tList, tSet, tMap:
		return 1, 24, true
	case tStruct:
		return 1, w.structCost, true
	}
	return 0, 0, false
}

// value walks one value of wire type t at nesting depth.
func (w *thriftWalk) value(t byte, depth int) error {
	switch t {
	case tTrue, tFalse, tByte:
		return w.skip(1) // as an element; a field's boolean is in its header
	case tI16:
		_, err := w.uvarint(16)
		return err
	case tI32:
		_, err := w.uvarint(32)
		return err
	case tI64:
		_, err := w.uvarint(64)
		return err
	case tDouble:
		return w.skip(8)
	case tUUID:
		return w.skip(16)
	case tBinary:
		n, err := w.uvarint(32)
		if err != nil {
			return err
		}
		if n > uint64(w.left()) {
			return w.short("a string", "bytes", n, 1)
		}
		w.off += int(n)
		return nil
	}
	if depth > thriftMaxDepth {
		return fmt.Errorf("its structures nest deeper than %d levels", thriftMaxDepth)
	}
	switch t {
	case tStruct:
		return w.fields(depth)
	case tList, tSet:
		h, err := w.byte1()
		if err != nil {
			return err
		}
		n, elem := uint64(h>>4), h&0x0f
		if n == 15 {
			if n, err = w.uvarint(31); err != nil {
				return err
			}
		}
		kind := "list"
		if t == tSet {
			kind = "set"
		}
		return w.elements(kind, n, []byte{elem}, depth)
	case tMap:
		n, err := w.uvarint(31)
		if err != nil || n == 0 {
			return err
		}
		h, err := w.byte1()
		if err != nil {
			return err
		}
		return w.elements("map", n, []byte{h >> 4, h & 0x0f}, depth)
	}
	return fmt.Errorf("a value at byte %d has the unknown type %d", w.off, t)
}

// elements walks n elements of a list, set or map, each a value of each
// of types in turn.
func (w *thriftWalk) elements(kind string, n uint64, types []byte, depth int) error {
	size, cost := 0, int64(0)
	for _, t := range types {
		s, c, ok := w.minSize(t)
		if !ok {
			return fmt.Errorf("a %s at byte %d holds the unknown type %d", kind, w.off, t)
		}
		size, cost = size+s, cost+c
	}
	if n > uint64(w.left()/size) {
		return w.short("a "+kind, "elements", n, size)
	}
	if int64(n)*cost > w.budget {
		return errThriftBudget
	}
	w.budget -= int64(n) * cost
	for range n {
		for _, t := range types {
			if err := w.value(t, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// fields walks a structure's fields up to its stop.
func (w *thriftWalk) fields(depth int) error {
	for {
		h, err := w.byte1()
		if err != nil {
			return err
		}
		t := h & 0x0f
		if t == tStop {
			return nil
		}
		if h>>4 == 0 { // the field's id follows, as a zigzag varint
			if _, err := w.uvarint(16); err != nil {
				return err
			}
		}
		if t == tTrue || t == tFalse {
			continue // the header is the value
		}
		if err := w.value(t, depth+1); err != nil {
			return err
		}
	}
}
