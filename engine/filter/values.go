package filter

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// kind is how a column's values compare: the Go type of its Values plus
// whether comparisons are allowed at all.
type kind int

const (
	kInt      kind = iota // int64 Values: signed ints and temporal types
	kUint                 // uint64 Values
	kFloat                // float64 Values
	kBool                 // bool Values
	kString               // string Values
	kBinary               // []byte Values
	kDecimal              // decimal128.Num Values
	kNullOnly             // nested and other types: only IS [NOT] NULL
)

// kindOf classifies t. For integer-like kinds it also returns the domain of
// raw values, used to coerce literals exactly.
func kindOf(t arrow.DataType) (k kind, lo, hi *big.Int) {
	signed := func(bits uint) (kind, *big.Int, *big.Int) {
		h := new(big.Int).Lsh(big.NewInt(1), bits-1)
		return kInt, new(big.Int).Neg(h), h.Sub(h, big.NewInt(1))
	}
	unsigned := func(bits uint) (kind, *big.Int, *big.Int) {
		h := new(big.Int).Lsh(big.NewInt(1), bits)
		return kUint, new(big.Int), h.Sub(h, big.NewInt(1))
	}
	switch t.ID() {
	case arrow.INT8:
		return signed(8)
	case arrow.INT16:
		return signed(16)
	case arrow.INT32, arrow.DATE32, arrow.TIME32:
		return signed(32)
	case arrow.INT64, arrow.DATE64, arrow.TIME64, arrow.TIMESTAMP, arrow.DURATION:
		return signed(64)
	case arrow.UINT8:
		return unsigned(8)
	case arrow.UINT16:
		return unsigned(16)
	case arrow.UINT32:
		return unsigned(32)
	case arrow.UINT64:
		return unsigned(64)
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return kFloat, nil, nil
	case arrow.BOOL:
		return kBool, nil, nil
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return kString, nil, nil
	case arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW, arrow.FIXED_SIZE_BINARY:
		return kBinary, nil, nil
	case arrow.DECIMAL128:
		p := t.(*arrow.Decimal128Type).Precision
		h := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil)
		h.Sub(h, big.NewInt(1))
		return kDecimal, new(big.Int).Neg(h), h
	}
	return kNullOnly, nil, nil
}

// Compare compares two non-null Values of the same column type t and returns
// -1, 0 or 1. Floats use a total order with NaN greater than everything
// (NaN equals NaN, as in keyenc) and -0 equal to +0. It panics when a or b is
// not a Value of t, which is a programming error of the caller.
func Compare(t arrow.DataType, a, b any) int {
	k, _, _ := kindOf(t)
	c, ok := compareKind(k, a, b)
	if !ok {
		panic(fmt.Sprintf("filter.Compare: %T and %T are not values of type %s", a, b, t))
	}
	return c
}

// compareKind compares two Values of kind k; ok is false when either is not
// of the Go type k uses.
func compareKind(k kind, a, b any) (int, bool) {
	switch k {
	case kInt:
		x, ok1 := a.(int64)
		y, ok2 := b.(int64)
		return cmp3(x, y), ok1 && ok2
	case kUint:
		x, ok1 := a.(uint64)
		y, ok2 := b.(uint64)
		return cmp3(x, y), ok1 && ok2
	case kFloat:
		x, ok1 := a.(float64)
		y, ok2 := b.(float64)
		return cmpFloat(x, y), ok1 && ok2
	case kBool:
		x, ok1 := a.(bool)
		y, ok2 := b.(bool)
		switch {
		case x == y:
			return 0, ok1 && ok2
		case y:
			return -1, ok1 && ok2
		default:
			return 1, ok1 && ok2
		}
	case kString:
		x, ok1 := a.(string)
		y, ok2 := b.(string)
		return strings.Compare(x, y), ok1 && ok2
	case kBinary:
		x, ok1 := a.([]byte)
		y, ok2 := b.([]byte)
		return bytes.Compare(x, y), ok1 && ok2
	case kDecimal:
		x, ok1 := a.(decimal128.Num)
		y, ok2 := b.(decimal128.Num)
		return x.Cmp(y), ok1 && ok2
	}
	return 0, false
}

func cmp3[T int64 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case a == b:
		return 0
	}
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	}
	return -1
}

// coerced is a literal converted to a column's domain. When the literal is
// not a value of the domain, below/above are its nearest domain neighbours,
// which is all an ordered comparison needs to stay exact.
type coerced struct {
	null     bool
	exact    bool
	v        any
	below    any // greatest domain value < literal (hasBelow)
	above    any // smallest domain value > literal (hasAbove)
	hasBelow bool
	hasAbove bool
	// Set for integer-like domains: the value is the domain's least or
	// greatest member, so `<=` it (resp. `>=`) holds for every non-null row.
	vIsMin, vIsMax, belowIsMax, aboveIsMin bool
}

// column is a bound column: its schema spelling, type and comparison kind.
type column struct {
	name     string
	typ      arrow.DataType
	kind     kind
	dlo, dhi *big.Int
}

func (c *column) String() string { return "`" + c.name + "`" }

var decimalText = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// maxExponent bounds the decimal exponent that ratOf computes with, so
// that exact rational arithmetic stays cheap; no column type reaches
// 10^100 (decimal256's largest value is below 10^77), nor has a step below
// 10^-76.
const maxExponent = 1000

// ratOf parses number text exactly. A literal whose exponent puts it far
// beyond every column type (|value| > 10^maxExponent) stands for
// ±10^maxExponent, and one far below every column type's step (0 <
// |value| < 10^-maxExponent) for ±10^-maxExponent: no column value lies
// between either pair or equals one of them, so every comparison with a
// column value comes out as the literal's own would, without computing
// 10^exponent (1e99999 is a valid literal, not an error).
func ratOf(text string) (*big.Rat, bool) {
	if !decimalText.MatchString(text) {
		return nil, false
	}
	i := strings.IndexAny(text, "eE")
	if i < 0 {
		return new(big.Rat).SetString(text)
	}
	mant, exp := text[:i], text[i+1:]
	m, ok := new(big.Rat).SetString(mant)
	if !ok {
		return nil, false
	}
	if m.Sign() == 0 {
		return m, true
	}
	// The mantissa's magnitude is within 10^±len(mant): beyond bound the
	// exponent alone decides which side of 10^±maxExponent the value is.
	bound := maxExponent + len(mant)
	e, err := strconv.Atoi(exp)
	if err != nil {
		if !errors.Is(err, strconv.ErrRange) {
			return nil, false
		}
		e = bound + 1
		if strings.HasPrefix(exp, "-") {
			e = -bound - 1
		}
	}
	switch {
	case e > bound:
		e = maxExponent
		m.SetInt64(int64(m.Sign()))
	case e < -bound:
		e = -maxExponent
		m.SetInt64(int64(m.Sign()))
	}
	p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(absInt(e))), nil))
	if e >= 0 {
		return m.Mul(m, p), true
	}
	return m.Quo(m, p), true
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// coerce converts lit to a comparison operand for col. Errors name the
// column and the literal.
func coerce(col *column, lit Literal) (coerced, error) {
	if col.kind == kNullOnly {
		return coerced{}, errf("column %s of type %s supports only IS NULL and IS NOT NULL", col, col.typ)
	}
	if lit.Kind == LitNull {
		return coerced{null: true}, nil
	}
	mismatch := func() (coerced, error) {
		return coerced{}, errf("literal %s cannot be compared with column %s of type %s", lit, col, col.typ)
	}
	switch col.kind {
	case kInt, kUint:
		r, err := literalRat(col, lit)
		if err != nil {
			return coerced{}, err
		}
		if r == nil {
			return mismatch()
		}
		return coerceInt(col, r, func(b *big.Int) any {
			if col.kind == kInt {
				return b.Int64()
			}
			return b.Uint64()
		}), nil
	case kDecimal:
		var r *big.Rat
		switch lit.Kind {
		case LitInt, LitFloat:
			var ok bool
			if r, ok = ratOf(lit.Text); !ok {
				return coerced{}, errf("number literal %s for column %s is out of range", lit, col)
			}
		case LitString:
			var ok bool
			if r, ok = ratOf(strings.TrimSpace(lit.Str)); !ok {
				return coerced{}, errf("bad decimal literal %s for column %s of type %s", lit, col, col.typ)
			}
		}
		if r == nil {
			return mismatch()
		}
		scale := col.typ.(*arrow.Decimal128Type).Scale
		m := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(absInt32(scale))), nil))
		if scale >= 0 {
			r.Mul(r, m)
		} else {
			r.Quo(r, m)
		}
		return coerceInt(col, r, func(b *big.Int) any { return decimal128.FromBigInt(b) }), nil
	case kFloat:
		if lit.Kind != LitInt && lit.Kind != LitFloat {
			return mismatch()
		}
		f, err := strconv.ParseFloat(lit.Text, 64)
		if err != nil && !math.IsInf(f, 0) {
			return coerced{}, errf("bad number literal %s for column %s", lit, col)
		}
		switch {
		case math.IsInf(f, 1): // beyond every finite float64, below +Inf
			return coerced{below: math.MaxFloat64, above: math.Inf(1), hasBelow: true, hasAbove: true}, nil
		case math.IsInf(f, -1):
			return coerced{below: math.Inf(-1), above: -math.MaxFloat64, hasBelow: true, hasAbove: true}, nil
		}
		return coerced{exact: true, v: f}, nil
	case kBool:
		if lit.Kind != LitBool {
			return mismatch()
		}
		return coerced{exact: true, v: lit.Bool}, nil
	case kString:
		if lit.Kind != LitString {
			return mismatch()
		}
		return coerced{exact: true, v: lit.Str}, nil
	case kBinary:
		if lit.Kind != LitString {
			return mismatch()
		}
		return coerced{exact: true, v: []byte(lit.Str)}, nil
	}
	return coerced{}, errf("column %s of type %s supports only IS NULL and IS NOT NULL", col, col.typ)
}

func absInt32(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// literalRat returns the exact raw value lit denotes for an integer-like
// column (nil when the literal kind does not fit).
func literalRat(col *column, lit Literal) (*big.Rat, error) {
	temporal := false
	switch col.typ.ID() {
	case arrow.DATE32, arrow.DATE64, arrow.TIME32, arrow.TIME64, arrow.TIMESTAMP, arrow.DURATION:
		temporal = true
	}
	switch lit.Kind {
	case LitInt:
		r, _ := new(big.Rat).SetString(lit.Text)
		return r, nil
	case LitFloat:
		if temporal {
			return nil, nil
		}
		r, ok := ratOf(lit.Text)
		if !ok {
			return nil, errf("number literal %s for column %s is out of range", lit, col)
		}
		return r, nil
	case LitString:
		if !temporal || col.typ.ID() == arrow.DURATION {
			return nil, nil
		}
		return temporalRat(col, lit)
	}
	return nil, nil
}

// coerceInt places the exact rational r in col's integer domain.
func coerceInt(col *column, r *big.Rat, mk func(*big.Int) any) coerced {
	if r.IsInt() && r.Num().Cmp(col.dlo) >= 0 && r.Num().Cmp(col.dhi) <= 0 {
		return coerced{exact: true, v: mk(new(big.Int).Set(r.Num())),
			vIsMin: r.Num().Cmp(col.dlo) == 0, vIsMax: r.Num().Cmp(col.dhi) == 0}
	}
	floor := new(big.Int).Div(r.Num(), r.Denom()) // Euclidean: floor for positive denominators
	ceil := new(big.Int).Set(floor)
	if !r.IsInt() {
		ceil.Add(ceil, big.NewInt(1))
	}
	var c coerced
	switch {
	case floor.Cmp(col.dhi) >= 0:
		c.below, c.hasBelow, c.belowIsMax = mk(col.dhi), true, true
	case floor.Cmp(col.dlo) >= 0:
		c.below, c.hasBelow = mk(floor), true
	}
	switch {
	case ceil.Cmp(col.dlo) <= 0:
		c.above, c.hasAbove, c.aboveIsMin = mk(col.dlo), true, true
	case ceil.Cmp(col.dhi) <= 0:
		c.above, c.hasAbove = mk(ceil), true
	}
	return c
}

var unitsPerSecond = map[arrow.TimeUnit]int64{arrow.Second: 1, arrow.Millisecond: 1e3, arrow.Microsecond: 1e6, arrow.Nanosecond: 1e9}

// temporalRat parses a date/time/timestamp string into the column's raw
// unit, exactly (sub-unit precision survives as a fraction).
func temporalRat(col *column, lit Literal) (*big.Rat, error) {
	s := lit.Str
	bad := func(what string, err error) (*big.Rat, error) {
		return nil, errf("bad %s literal %s for column %s of type %s: %v", what, lit, col, col.typ, err)
	}
	nanosTo := func(nanos *big.Int, unit arrow.TimeUnit) *big.Rat {
		return new(big.Rat).SetFrac(nanos, big.NewInt(1e9/unitsPerSecond[unit]))
	}
	switch t := col.typ.(type) {
	case *arrow.Date32Type:
		days, err := parseDate(s)
		if err != nil {
			return bad("date", err)
		}
		return new(big.Rat).SetInt64(days), nil
	case *arrow.Date64Type:
		days, err := parseDate(s)
		if err != nil {
			return bad("date", err)
		}
		return new(big.Rat).SetInt64(days * 86400000), nil
	case *arrow.Time32Type:
		n, err := parseTimeOfDay(s)
		if err != nil {
			return bad("time", err)
		}
		return nanosTo(big.NewInt(n), t.Unit), nil
	case *arrow.Time64Type:
		n, err := parseTimeOfDay(s)
		if err != nil {
			return bad("time", err)
		}
		return nanosTo(big.NewInt(n), t.Unit), nil
	case *arrow.TimestampType:
		sec, nanos, err := parseTimestamp(s)
		if err != nil {
			return bad("timestamp", err)
		}
		total := new(big.Int).Mul(big.NewInt(sec), big.NewInt(1e9))
		total.Add(total, big.NewInt(nanos))
		return nanosTo(total, t.Unit), nil
	}
	return nil, nil
}

func atoiN(s string, n int) (int, bool) {
	if len(s) != n {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, true
}

// parseDate parses YYYY-MM-DD into days since the Unix epoch.
func parseDate(s string) (int64, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, fmt.Errorf("want YYYY-MM-DD")
	}
	y, ok1 := atoiN(s[0:4], 4)
	m, ok2 := atoiN(s[5:7], 2)
	d, ok3 := atoiN(s[8:10], 2)
	if !ok1 || !ok2 || !ok3 {
		return 0, fmt.Errorf("want YYYY-MM-DD")
	}
	if m < 1 || m > 12 {
		return 0, fmt.Errorf("month %d out of range", m)
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if d < 1 || t.Day() != d {
		return 0, fmt.Errorf("day %d out of range", d)
	}
	return t.Unix() / 86400, nil
}

// parseTimeOfDay parses HH:MM[:SS[.fffffffff]] into nanoseconds of the day.
func parseTimeOfDay(s string) (int64, error) {
	n, rest, err := parseClock(s)
	if err != nil {
		return 0, err
	}
	if rest != "" {
		return 0, fmt.Errorf("unexpected %q after the time", rest)
	}
	return n, nil
}

// parseClock parses a leading HH:MM[:SS[.f{1,9}]] and returns the
// nanoseconds of the day and what follows it.
func parseClock(s string) (int64, string, error) {
	const want = "want HH:MM:SS[.fffffffff]"
	if len(s) < 5 || s[2] != ':' {
		return 0, "", errors.New(want)
	}
	h, ok1 := atoiN(s[0:2], 2)
	mi, ok2 := atoiN(s[3:5], 2)
	if !ok1 || !ok2 {
		return 0, "", errors.New(want)
	}
	sec, frac := 0, int64(0)
	rest := s[5:]
	if len(rest) > 0 && rest[0] == ':' {
		var ok bool
		if len(rest) < 3 {
			return 0, "", errors.New(want)
		}
		if sec, ok = atoiN(rest[1:3], 2); !ok {
			return 0, "", errors.New(want)
		}
		rest = rest[3:]
		if len(rest) > 0 && rest[0] == '.' {
			i := 1
			for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
				i++
			}
			digits := rest[1:i]
			if len(digits) == 0 || len(digits) > 9 {
				return 0, "", fmt.Errorf("fractional seconds need 1 to 9 digits")
			}
			f, _ := strconv.ParseInt(digits+strings.Repeat("0", 9-len(digits)), 10, 64)
			frac = f
			rest = rest[i:]
		}
	}
	switch {
	case h > 23:
		return 0, "", fmt.Errorf("hour %d out of range", h)
	case mi > 59:
		return 0, "", fmt.Errorf("minute %d out of range", mi)
	case sec > 59:
		return 0, "", fmt.Errorf("second %d out of range", sec)
	}
	return (int64(h)*3600+int64(mi)*60+int64(sec))*1e9 + frac, rest, nil
}

// parseTimestamp parses an ISO-8601 timestamp (date, optional time after
// 'T' or a space, optional Z or ±hh[:mm] offset) into seconds and
// nanoseconds since the epoch of the instant written; with no offset the
// fields are read as UTC.
func parseTimestamp(s string) (sec, nanos int64, err error) {
	if len(s) < 10 {
		return 0, 0, fmt.Errorf("want YYYY-MM-DD[THH:MM:SS[.fffffffff]][Z|±hh:mm]")
	}
	days, err := parseDate(s[:10])
	if err != nil {
		return 0, 0, err
	}
	rest := s[10:]
	if rest == "" {
		return days * 86400, 0, nil
	}
	if rest[0] != 'T' && rest[0] != 't' && rest[0] != ' ' {
		return 0, 0, fmt.Errorf("want 'T' or a space after the date, found %q", rest[:1])
	}
	clock, rest, err := parseClock(rest[1:])
	if err != nil {
		return 0, 0, err
	}
	offset := int64(0)
	switch {
	case rest == "":
	case rest == "Z" || rest == "z":
	case rest[0] == '+' || rest[0] == '-':
		o := rest[1:]
		var h, m int
		var ok1, ok2 = false, true
		switch len(o) {
		case 2:
			h, ok1 = atoiN(o, 2)
		case 4:
			h, ok1 = atoiN(o[:2], 2)
			m, ok2 = atoiN(o[2:], 2)
		case 5:
			h, ok1 = atoiN(o[:2], 2)
			m, ok2 = atoiN(o[3:], 2)
			ok2 = ok2 && o[2] == ':'
		}
		if !ok1 || !ok2 || h > 23 || m > 59 {
			return 0, 0, fmt.Errorf("bad UTC offset %q", rest)
		}
		offset = int64(h*3600 + m*60)
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, 0, fmt.Errorf("unexpected %q after the time", rest)
	}
	return days*86400 + clock/1e9 - offset, clock % 1e9, nil
}
