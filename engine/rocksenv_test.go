package engine

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/linxGnu/grocksdb"
)

// TestPackedPutsRoundTrip: entries packed for one cgo call land in the
// write batch as separate puts (read back after the write, empty keys and
// values and a value larger than the flush threshold included), and a
// malformed buffer is an error, never a read past its end.
func TestPackedPutsRoundTrip(t *testing.T) {
	db, _, _ := testDB(t)
	st := db.st
	want := map[string][]byte{}
	var p packedPuts
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	big := bytes.Repeat([]byte{7}, packedPutBytes+10)
	for i := 0; i < 1000; i++ {
		k := []byte(fmt.Sprintf("\xff\xfftest-%04d", i))
		v := []byte(fmt.Sprintf("value-%d", i*i))
		switch i {
		case 3:
			v = nil
		case 500:
			v = big
		}
		p.begin()
		p.buf = append(p.buf, k...)
		p.keyEnd()
		p.buf = append(p.buf, v...)
		p.end()
		want[string(k)] = v
		if i%300 == 299 {
			if err := p.putPacked(wb, st.cfData); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := p.putPacked(wb, st.cfData); err != nil {
		t.Fatal(err)
	}
	if wb.Count() != 1000 {
		t.Fatalf("%d entries in the batch, want 1000", wb.Count())
	}
	if err := st.rdb.Write(st.syncWO, wb); err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		s, err := st.rdb.GetCF(st.readOpts, st.cfData, []byte(k))
		if err != nil {
			t.Fatal(err)
		}
		if !s.Exists() || !bytes.Equal(s.Data(), v) {
			t.Fatalf("key %q: %d bytes (exists %v), want %d bytes", k, s.Size(), s.Exists(), len(v))
		}
		s.Free()
	}
	// Malformed: a truncated header, and lengths past the end.
	for _, bad := range [][]byte{{1, 0, 0}, {5, 0, 0, 0, 5, 0, 0, 0, 'a', 'b'}} {
		p.buf = append(p.buf[:0], bad...)
		if err := p.putPacked(wb, st.cfData); err == nil {
			t.Fatalf("malformed %v: no error", bad)
		}
	}
}
