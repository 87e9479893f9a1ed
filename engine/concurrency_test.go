package engine

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentWritersFlushesAndScans runs appenders, deletes, flushes,
// compactions, vacuums and scans at the same time (run it with -race too),
// then checks that exactly the rows written and not deleted are there.
func TestConcurrentWritersFlushesAndScans(t *testing.T) {
	db, mem, _ := testDB(t)
	if _, err := db.CreateTable("c", "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	const writers, batches, per = 3, 30, 20
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				ids := make([]int64, per)
				kinds := make([]string, per)
				amts := make([]float64, per)
				for i := range ids {
					ids[i] = int64(w*1_000_000 + b*per + i)
					kinds[i] = fmt.Sprintf("w%d", w)
				}
				rec := eventsBatch(mem, ids, kinds, amts)
				if _, err := db.AppendRecord("c", rec); err != nil {
					errs <- err
				}
				rec.Release()
				if b%5 == 4 { // delete the first row of this batch
					k := keyBatch(mem, ids[:1])
					rdr := recordReader(t, k)
					if n, err := db.Delete("c", rdr); err != nil || n != 1 {
						errs <- fmt.Errorf("delete %d: n=%d err=%v", ids[0], n, err)
					}
					rdr.Release()
					k.Release()
				}
			}
		}(w)
	}
	stop := make(chan struct{})
	var maint, scans atomic.Int64
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { // maintenance
		defer bg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var err error
			switch i % 3 {
			case 0, 1:
				_, err = db.Flush("c")
			default:
				if _, err = db.Compact("c", CompactOptions{TargetRows: 200}); err == nil {
					_, err = db.Vacuum("c", 0, false)
				}
			}
			if err != nil {
				errs <- err
			}
			maint.Add(1)
		}
	}()
	go func() { // readers: every scan must be internally consistent (sorted, unique)
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			s, err := db.Scan("c", ScanRequest{Columns: []string{"id"}, Limit: -1, BatchRows: 100})
			if err != nil {
				errs <- err
				return
			}
			last := int64(-1)
			for {
				rec, err := s.Next()
				if err != nil {
					errs <- err
					break
				}
				if rec == nil {
					break
				}
				for _, id := range rec.Column(0).(interface{ Int64Values() []int64 }).Int64Values() {
					if id <= last {
						errs <- fmt.Errorf("scan out of order or duplicated: %d after %d", id, last)
					}
					last = id
				}
				rec.Release()
			}
			s.Close()
			scans.Add(1)
		}
	}()
	wg.Wait()
	// Let maintenance and readers run a while after the writers, too.
	for maint.Load() < 12 || scans.Load() < 6 {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ids := scanIDs(t, db, "c")
	// Every fifth batch of each writer lost its first row to a delete.
	want := writers * (batches*per - batches/5)
	if len(ids) != want {
		t.Fatalf("%d rows, want %d", len(ids), want)
	}
}
