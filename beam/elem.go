package beam

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"reflect"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	beamsdk "github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

// Elem is one batch on a pipe: the element of every PCollection of the
// translation.
type Elem struct {
	// Pipe is the index of the output pipe among its stage's outputs, for
	// the PCollection of a stage with several outputs (partitioned by it).
	Pipe int32
	// Pos orders the batches of a pipe as the local engine would send
	// them, compared bytewise.
	Pos []byte
	// Data is the batch as an Arrow IPC stream.
	Data []byte
	// Rows is the batch's number of rows (set by stageBase.send, which
	// makes every element of a pipe), for the run summary's tally.
	Rows int64
}

func init() {
	beamsdk.RegisterType(reflect.TypeOf((*Elem)(nil)).Elem())
	register.Function1x1(pipeOf)
	register.Emitter1[Elem]()
}

// pipeOf partitions a multi-output stage's PCollection by pipe.
func pipeOf(e Elem) int { return int(e.Pipe) }

// encode writes rec as an IPC stream.
func encode(rec arrow.RecordBatch) ([]byte, error) {
	var b bytes.Buffer
	w := ipc.NewWriter(&b, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// decode reads the one batch of an IPC stream; the caller releases it.
func decode(data []byte, mem memory.Allocator) (arrow.RecordBatch, error) {
	r, err := ipc.NewReader(bytes.NewReader(data), ipc.WithAllocator(mem))
	if err != nil {
		return nil, fmt.Errorf("decoding a batch: %w", err)
	}
	defer r.Release()
	if !r.Next() {
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("decoding a batch: %w", err)
		}
		return nil, fmt.Errorf("decoding a batch: empty stream")
	}
	rec := r.RecordBatch()
	rec.Retain()
	return rec, nil
}

// pos appends big-endian uint32s to prefix, in a new slice: positions
// compare bytewise in the order of their numbers.
func pos(prefix []byte, n ...uint32) []byte {
	out := make([]byte, len(prefix), len(prefix)+4*len(n))
	copy(out, prefix)
	for _, v := range n {
		out = binary.BigEndian.AppendUint32(out, v)
	}
	return out
}

var errEOF = io.EOF
