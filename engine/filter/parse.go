package filter

import (
	"strconv"
	"strings"

	"github.com/kalamdb/libkalam/kerr"
)

type tokKind int

const (
	tkEOF tokKind = iota
	tkIdent
	tkQIdent
	tkInt
	tkFloat
	tkString
	tkOp
	tkLParen
	tkRParen
	tkComma
)

type token struct {
	kind tokKind
	pos  int    // 1-based character position
	text string // source text
	val  string // unquoted value for tkQIdent/tkString; op text for tkOp
}

// keyword reports whether t is the bare keyword kw (given upper case).
func (t token) keyword(kw string) bool {
	return t.kind == tkIdent && strings.EqualFold(t.text, kw)
}

func (t token) describe() string {
	if t.kind == tkEOF {
		return "end of input"
	}
	return strconv.Quote(t.text)
}

// syntaxError unwinds the recursive-descent parser to Parse.
type syntaxError struct{ err error }

type parser struct {
	src   []rune
	off   int // index into src of the next unlexed rune
	tok   token
	depth int // open parentheses and NOTs, bounded by maxDepth
}

// maxDepth bounds nesting so that a hostile filter cannot exhaust the stack
// of the recursive-descent parser.
const maxDepth = 1000

func syntaxErr(pos int, format string, args ...any) {
	args = append([]any{pos}, args...)
	panic(syntaxError{kerr.New(kerr.InvalidArgument, "filter: syntax error at position %d: "+format, args...)})
}

// Parse parses a predicate of the DESIGN §4.1 grammar. Syntax errors are
// kerr.InvalidArgument naming the 1-based character position and what was
// expected and found. A literal written left of a comparison (`5 < id`) is
// accepted and normalised to `id > 5`.
func Parse(src string) (e Expr, err error) {
	p := &parser{src: []rune(src)}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(syntaxError)
			if !ok {
				panic(r)
			}
			e, err = nil, se.err
		}
	}()
	p.advance()
	e = p.parseOr()
	if p.tok.kind != tkEOF {
		p.fail("AND, OR or end of input")
	}
	return e, nil
}

func (p *parser) fail(expected string) {
	syntaxErr(p.tok.pos, "expected %s, found %s", expected, p.tok.describe())
}

func isIdentStart(r rune) bool {
	return r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z')
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func (p *parser) advance() {
	src := p.src
	for p.off < len(src) && (src[p.off] == ' ' || src[p.off] == '\t' || src[p.off] == '\n' || src[p.off] == '\r') {
		p.off++
	}
	start := p.off
	pos := start + 1
	if start >= len(src) {
		p.tok = token{kind: tkEOF, pos: pos}
		return
	}
	c := src[start]
	emit := func(k tokKind, end int, val string) {
		p.off = end
		p.tok = token{kind: k, pos: pos, text: string(src[start:end]), val: val}
	}
	switch {
	case isIdentStart(c):
		end := start + 1
		for end < len(src) && (isIdentStart(src[end]) || isDigit(src[end])) {
			end++
		}
		emit(tkIdent, end, "")
	case c == '"' || c == '\'':
		var b strings.Builder
		end := start + 1
		for {
			if end >= len(src) {
				if c == '"' {
					syntaxErr(pos, "unterminated quoted identifier")
				}
				syntaxErr(pos, "unterminated string literal")
			}
			if src[end] == c {
				if end+1 < len(src) && src[end+1] == c {
					b.WriteRune(c)
					end += 2
					continue
				}
				end++
				break
			}
			b.WriteRune(src[end])
			end++
		}
		if c == '"' {
			if b.Len() == 0 {
				syntaxErr(pos, "empty quoted identifier")
			}
			emit(tkQIdent, end, b.String())
		} else {
			emit(tkString, end, b.String())
		}
	case isDigit(c) || c == '-' || c == '.':
		p.lexNumber(start)
	case c == '(':
		emit(tkLParen, start+1, "")
	case c == ')':
		emit(tkRParen, start+1, "")
	case c == ',':
		emit(tkComma, start+1, "")
	case c == '=':
		emit(tkOp, start+1, "=")
	case c == '!':
		if start+1 < len(src) && src[start+1] == '=' {
			emit(tkOp, start+2, "<>")
			return
		}
		syntaxErr(pos, "unexpected character %q", string(c))
	case c == '<':
		if start+1 < len(src) && src[start+1] == '=' {
			emit(tkOp, start+2, "<=")
		} else if start+1 < len(src) && src[start+1] == '>' {
			emit(tkOp, start+2, "<>")
		} else {
			emit(tkOp, start+1, "<")
		}
	case c == '>':
		if start+1 < len(src) && src[start+1] == '=' {
			emit(tkOp, start+2, ">=")
		} else {
			emit(tkOp, start+1, ">")
		}
	default:
		syntaxErr(pos, "unexpected character %q", string(c))
	}
}

// lexNumber scans -?digits[.digits][e[+-]digits] (also .5 and 5.): a number
// glued to letters or a second dot is rejected as one bad token.
func (p *parser) lexNumber(start int) {
	src := p.src
	i := start
	if src[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(src) && isDigit(src[i]) {
			i++
			n++
		}
		return n
	}
	intDigits := digits()
	isFloat := false
	fracDigits := 0
	if i < len(src) && src[i] == '.' {
		isFloat = true
		i++
		fracDigits = digits()
	}
	bad := intDigits+fracDigits == 0
	if !bad && i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		isFloat = true
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if digits() == 0 {
			bad = true
		}
	}
	if i < len(src) && (isIdentStart(src[i]) || isDigit(src[i]) || src[i] == '.') {
		bad = true
		for i < len(src) && (isIdentStart(src[i]) || isDigit(src[i]) || src[i] == '.') {
			i++
		}
	}
	text := string(src[start:i])
	if bad {
		if text == "-" || text == "." {
			syntaxErr(start+1, "unexpected character %q", text)
		}
		syntaxErr(start+1, "invalid number %q", text)
	}
	kind := tkInt
	if isFloat {
		kind = tkFloat
	}
	p.off = i
	p.tok = token{kind: kind, pos: start + 1, text: text}
}

func (p *parser) parseOr() Expr {
	terms := flat(nil, p.parseAnd(), false)
	for p.tok.keyword("OR") {
		p.advance()
		terms = flat(terms, p.parseAnd(), false)
	}
	if len(terms) == 1 {
		return terms[0]
	}
	return &OrExpr{Terms: terms}
}

func (p *parser) parseAnd() Expr {
	terms := flat(nil, p.parseNot(), true)
	for p.tok.keyword("AND") {
		p.advance()
		terms = flat(terms, p.parseNot(), true)
	}
	if len(terms) == 1 {
		return terms[0]
	}
	return &AndExpr{Terms: terms}
}

// flat appends e, splicing in its terms when it is the same connective (from
// parentheses): AND and OR are associative under three-valued logic.
func flat(terms []Expr, e Expr, and bool) []Expr {
	if a, ok := e.(*AndExpr); ok && and {
		return append(terms, a.Terms...)
	}
	if o, ok := e.(*OrExpr); ok && !and {
		return append(terms, o.Terms...)
	}
	return append(terms, e)
}

func (p *parser) parseNot() Expr {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		syntaxErr(p.tok.pos, "expression nested deeper than %d levels", maxDepth)
	}
	switch {
	case p.tok.keyword("NOT"):
		p.advance()
		return &NotExpr{X: p.parseNot()}
	case p.tok.kind == tkLParen:
		p.advance()
		e := p.parseOr()
		if p.tok.kind != tkRParen {
			p.fail(`AND, OR or ")"`)
		}
		p.advance()
		return e
	}
	return p.parsePred()
}

// isLiteralStart reports whether the current token begins a literal.
func (p *parser) isLiteralStart() bool {
	switch p.tok.kind {
	case tkInt, tkFloat, tkString:
		return true
	}
	return p.tok.keyword("TRUE") || p.tok.keyword("FALSE") || p.tok.keyword("NULL")
}

func (p *parser) parsePred() Expr {
	if p.isLiteralStart() {
		lit := p.parseLiteral()
		if p.tok.kind != tkOp && lit.Kind == LitBool {
			return &ConstExpr{Value: lit.Bool} // TRUE / FALSE: every row / no row
		}
		if p.tok.kind != tkOp {
			p.fail("comparison operator")
		}
		op := parseOp(p.tok.val)
		p.advance()
		col := p.parseIdent("identifier")
		return &CmpExpr{Col: col, Op: op.Flip(), Lit: lit}
	}
	col := p.parseIdent("expression")
	switch {
	case p.tok.kind == tkOp:
		op := parseOp(p.tok.val)
		p.advance()
		return &CmpExpr{Col: col, Op: op, Lit: p.parseLiteral()}
	case p.tok.keyword("IN"):
		p.advance()
		return &InExpr{Col: col, List: p.parseList()}
	case p.tok.keyword("NOT"):
		p.advance()
		if !p.tok.keyword("IN") {
			p.fail("IN")
		}
		p.advance()
		return &InExpr{Col: col, Not: true, List: p.parseList()}
	case p.tok.keyword("IS"):
		p.advance()
		not := false
		if p.tok.keyword("NOT") {
			not = true
			p.advance()
			if !p.tok.keyword("NULL") {
				p.fail("NULL")
			}
		} else if !p.tok.keyword("NULL") {
			p.fail("NULL or NOT NULL")
		}
		p.advance()
		return &IsNullExpr{Col: col, Not: not}
	case p.tok.keyword("BETWEEN"):
		p.advance()
		lo := p.parseLiteral()
		if !p.tok.keyword("AND") {
			p.fail("AND")
		}
		p.advance()
		return &BetweenExpr{Col: col, Lo: lo, Hi: p.parseLiteral()}
	}
	p.fail("comparison operator, IN, NOT IN, IS or BETWEEN")
	return nil
}

func parseOp(s string) Op {
	switch s {
	case "=":
		return OpEq
	case "<>":
		return OpNe
	case "<":
		return OpLt
	case "<=":
		return OpLe
	case ">":
		return OpGt
	default:
		return OpGe
	}
}

// parseIdent consumes an identifier; expected names the production for the
// error message.
func (p *parser) parseIdent(expected string) string {
	switch p.tok.kind {
	case tkQIdent:
		name := p.tok.val
		p.advance()
		return name
	case tkIdent:
		if !keywords[strings.ToUpper(p.tok.text)] {
			name := p.tok.text
			p.advance()
			return name
		}
	}
	p.fail(expected)
	return ""
}

func (p *parser) parseList() []Literal {
	if p.tok.kind != tkLParen {
		p.fail(`"("`)
	}
	p.advance()
	list := []Literal{p.parseLiteral()}
	for p.tok.kind == tkComma {
		p.advance()
		list = append(list, p.parseLiteral())
	}
	if p.tok.kind != tkRParen {
		p.fail(`"," or ")"`)
	}
	p.advance()
	return list
}

func (p *parser) parseLiteral() Literal {
	t := p.tok
	var lit Literal
	switch {
	case t.kind == tkInt:
		lit = Literal{Kind: LitInt, Text: canonicalInt(t.text)}
	case t.kind == tkFloat:
		lit = Literal{Kind: LitFloat, Text: t.text}
	case t.kind == tkString:
		lit = Literal{Kind: LitString, Str: t.val}
	case t.keyword("TRUE"):
		lit = Literal{Kind: LitBool, Bool: true}
	case t.keyword("FALSE"):
		lit = Literal{Kind: LitBool}
	case t.keyword("NULL"):
		lit = Literal{Kind: LitNull}
	default:
		p.fail("literal")
	}
	p.advance()
	return lit
}

// canonicalInt strips leading zeros and the sign of zero.
func canonicalInt(s string) string {
	neg := strings.HasPrefix(s, "-")
	d := strings.TrimLeft(strings.TrimPrefix(s, "-"), "0")
	if d == "" {
		return "0"
	}
	if neg {
		return "-" + d
	}
	return d
}
