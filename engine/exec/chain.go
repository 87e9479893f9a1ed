package exec

import "github.com/apache/arrow-go/v18/arrow"

// Chain reads its sources one after the other, opening each lazily.
type Chain struct {
	open    []func() (Source, error)
	cur     Source
	onClose func() // after the sources: releases what they shared
}

// NewChain reads the sources open returns, in order; onClose (may be nil)
// runs when the chain closes, after the sources.
func NewChain(open []func() (Source, error), onClose func()) *Chain {
	return &Chain{open: open, onClose: onClose}
}

func (c *Chain) Next() (arrow.RecordBatch, error) {
	for {
		if c.cur == nil {
			if len(c.open) == 0 {
				return nil, nil
			}
			s, err := c.open[0]()
			c.open = c.open[1:]
			if err != nil {
				return nil, err
			}
			c.cur = s
		}
		rec, err := c.cur.Next()
		if err != nil {
			return nil, err
		}
		if rec != nil {
			return rec, nil
		}
		c.cur.Close()
		c.cur = nil
	}
}

func (c *Chain) Close() {
	if c.cur != nil {
		c.cur.Close()
		c.cur = nil
	}
	c.open = nil
	if c.onClose != nil {
		c.onClose()
		c.onClose = nil
	}
}
