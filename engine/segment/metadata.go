package segment

// Decoding of Parquet's FileMetaData (parquet.thrift) into the few fields
// the reader uses. Field ids are those of parquet.thrift.

// Parquet physical types.
const (
	ptBoolean   = 0
	ptInt32     = 1
	ptInt64     = 2
	ptInt96     = 3
	ptFloat     = 4
	ptDouble    = 5
	ptByteArray = 6
	ptFLBA      = 7
)

// Parquet encodings.
const (
	encPlain          = 0
	encPlainDict      = 2
	encRLE            = 3
	encBitPacked      = 4
	encDeltaBinary    = 5
	encDeltaLength    = 6
	encDeltaByteArray = 7
	encRLEDict        = 8
	encByteStreamSplt = 9
)

// Parquet repetition types.
const (
	repRequired = 0
	repOptional = 1
	repRepeated = 2
)

// Parquet compression codecs.
const (
	codecUncompressed = 0
	codecSnappy       = 1
	codecGzip         = 2
	codecLZO          = 3
	codecBrotli       = 4
	codecLZ4          = 5
	codecZstd         = 6
	codecLZ4Raw       = 7
)

var physicalNames = map[int32]string{ptBoolean: "BOOLEAN", ptInt32: "INT32", ptInt64: "INT64", ptInt96: "INT96",
	ptFloat: "FLOAT", ptDouble: "DOUBLE", ptByteArray: "BYTE_ARRAY", ptFLBA: "FIXED_LEN_BYTE_ARRAY"}

var encodingNames = map[int32]string{encPlain: "PLAIN", encPlainDict: "PLAIN_DICTIONARY", encRLE: "RLE",
	encBitPacked: "BIT_PACKED", encDeltaBinary: "DELTA_BINARY_PACKED", encDeltaLength: "DELTA_LENGTH_BYTE_ARRAY",
	encDeltaByteArray: "DELTA_BYTE_ARRAY", encRLEDict: "RLE_DICTIONARY", encByteStreamSplt: "BYTE_STREAM_SPLIT"}

var codecNames = map[int32]string{codecUncompressed: "UNCOMPRESSED", codecSnappy: "SNAPPY", codecGzip: "GZIP",
	codecLZO: "LZO", codecBrotli: "BROTLI", codecLZ4: "LZ4", codecZstd: "ZSTD", codecLZ4Raw: "LZ4_RAW"}

func nameOr(m map[int32]string, v int32) string {
	if s, ok := m[v]; ok {
		return s
	}
	return "unknown(" + itoa(int64(v)) + ")"
}

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	var b [24]byte
	i := len(b)
	for v != 0 {
		d := v % 10
		if d < 0 {
			d = -d
		}
		i--
		b[i] = byte('0' + d)
		v /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// logicalType is the LogicalType union; kind is the union's field id
// (1 STRING, 5 DECIMAL, 6 DATE, 7 TIME, 8 TIMESTAMP, 10 INTEGER, ...).
type logicalType struct {
	kind      int16
	scale     int32
	precision int32
	utc       bool
	unit      int16 // 1 millis, 2 micros, 3 nanos
	bitWidth  int32
	signed    bool
}

type schemaElement struct {
	typ, typeLength, repetition int32
	hasType, hasRepetition      bool
	name                        string
	numChildren                 int32
	convertedType               int32
	hasConverted                bool
	scale, precision            int32
	fieldID                     int32
	hasFieldID                  bool
	logical                     logicalType
}

type rawStats struct {
	min, max               []byte
	hasMin, hasMax         bool
	nullCount              int64
	hasNullCount           bool
	distinctCount          int64
	hasDistinct            bool
	legacyMin, legacyMax   []byte
	hasLegacy              bool
	minExact, maxExact     bool
	hasMinExact, hasMaxExa bool
}

type columnChunk struct {
	filePath          string
	hasMeta           bool
	encrypted         bool
	physType          int32
	encodings         []int32
	path              []string
	codec             int32
	numValues         int64
	totalUncompressed int64
	totalCompressed   int64
	dataPageOffset    int64
	dictPageOffset    int64
	hasDictOffset     bool
	stats             rawStats
	hasStats          bool
	offsetIndexOffset int64
	offsetIndexLength int32
	hasOffsetIndex    bool
	columnIndexOffset int64
	columnIndexLength int32
	hasColumnIndex    bool
}

type rowGroup struct {
	columns  []columnChunk
	numRows  int64
	byteSize int64
}

type keyValue struct {
	key, value string
	hasValue   bool
}

type fileMeta struct {
	version   int32
	schema    []schemaElement
	numRows   int64
	rowGroups []rowGroup
	kv        []keyValue
	createdBy string
	encrypted bool
}

func parseFileMeta(b []byte) (*fileMeta, error) {
	r := &tReader{b: b}
	m := &fileMeta{}
	err := r.readStruct(func(id int16, typ byte) error {
		var err error
		switch id {
		case 1:
			m.version, err = r.fI32(id, typ)
		case 2:
			var n int
			if n, err = r.fList(id, typ, tStruct); err != nil {
				return err
			}
			m.schema = make([]schemaElement, n)
			for i := range m.schema {
				if err := parseSchemaElement(r, &m.schema[i]); err != nil {
					return err
				}
			}
		case 3:
			m.numRows, err = r.fI64(id, typ)
		case 4:
			var n int
			if n, err = r.fList(id, typ, tStruct); err != nil {
				return err
			}
			m.rowGroups = make([]rowGroup, n)
			for i := range m.rowGroups {
				if err := parseRowGroup(r, &m.rowGroups[i]); err != nil {
					return err
				}
			}
		case 5:
			var n int
			if n, err = r.fList(id, typ, tStruct); err != nil {
				return err
			}
			m.kv = make([]keyValue, n)
			for i := range m.kv {
				kv := &m.kv[i]
				if err := r.readStruct(func(id int16, typ byte) error {
					var err error
					switch id {
					case 1:
						kv.key, err = r.str2(id, typ)
					case 2:
						kv.value, err = r.str2(id, typ)
						kv.hasValue = true
					default:
						err = r.skip(typ)
					}
					return err
				}); err != nil {
					return err
				}
			}
		case 6:
			m.createdBy, err = r.str2(id, typ)
		case 8, 9:
			// encryption_algorithm / footer_signing_key_metadata: only
			// present in encrypted files.
			m.encrypted = true
			err = r.skip(typ)
		default:
			err = r.skip(typ)
		}
		return err
	})
	return m, err
}

func (r *tReader) str2(id int16, typ byte) (string, error) {
	b, err := r.fBinary(id, typ)
	return string(b), err
}

func parseSchemaElement(r *tReader, e *schemaElement) error {
	return r.readStruct(func(id int16, typ byte) error {
		var err error
		switch id {
		case 1:
			e.typ, err = r.fI32(id, typ)
			e.hasType = true
		case 2:
			e.typeLength, err = r.fI32(id, typ)
		case 3:
			e.repetition, err = r.fI32(id, typ)
			e.hasRepetition = true
		case 4:
			e.name, err = r.str2(id, typ)
		case 5:
			e.numChildren, err = r.fI32(id, typ)
		case 6:
			e.convertedType, err = r.fI32(id, typ)
			e.hasConverted = true
		case 7:
			e.scale, err = r.fI32(id, typ)
		case 8:
			e.precision, err = r.fI32(id, typ)
		case 9:
			e.fieldID, err = r.fI32(id, typ)
			e.hasFieldID = true
		case 10:
			err = r.fStruct(id, typ, func(kind int16, typ byte) error {
				e.logical.kind = kind
				return parseLogical(r, kind, typ, &e.logical)
			})
		default:
			err = r.skip(typ)
		}
		return err
	})
}

func parseLogical(r *tReader, kind int16, typ byte, l *logicalType) error {
	unit := func(id int16, typ byte) error {
		return r.fStruct(id, typ, func(u int16, typ byte) error {
			l.unit = u
			return r.skip(typ)
		})
	}
	switch kind {
	case 5: // DECIMAL
		return r.fStruct(kind, typ, func(id int16, typ byte) error {
			var err error
			switch id {
			case 1:
				l.scale, err = r.fI32(id, typ)
			case 2:
				l.precision, err = r.fI32(id, typ)
			default:
				err = r.skip(typ)
			}
			return err
		})
	case 7, 8: // TIME, TIMESTAMP
		return r.fStruct(kind, typ, func(id int16, typ byte) error {
			var err error
			switch id {
			case 1:
				l.utc, err = r.fBool(id, typ)
			case 2:
				err = unit(id, typ)
			default:
				err = r.skip(typ)
			}
			return err
		})
	case 10: // INTEGER
		return r.fStruct(kind, typ, func(id int16, typ byte) error {
			var err error
			switch id {
			case 1:
				l.bitWidth, err = r.fI32(id, typ)
			case 2:
				l.signed, err = r.fBool(id, typ)
			default:
				err = r.skip(typ)
			}
			return err
		})
	}
	return r.skip(typ)
}

func parseRowGroup(r *tReader, g *rowGroup) error {
	return r.readStruct(func(id int16, typ byte) error {
		var err error
		switch id {
		case 1:
			var n int
			if n, err = r.fList(id, typ, tStruct); err != nil {
				return err
			}
			g.columns = make([]columnChunk, n)
			for i := range g.columns {
				if err := parseColumnChunk(r, &g.columns[i]); err != nil {
					return err
				}
			}
		case 2:
			g.byteSize, err = r.fI64(id, typ)
		case 3:
			g.numRows, err = r.fI64(id, typ)
		default:
			err = r.skip(typ)
		}
		return err
	})
}

func parseColumnChunk(r *tReader, c *columnChunk) error {
	return r.readStruct(func(id int16, typ byte) error {
		var err error
		switch id {
		case 1:
			c.filePath, err = r.str2(id, typ)
		case 3:
			c.hasMeta = true
			err = r.fStruct(id, typ, func(id int16, typ byte) error { return parseColumnMeta(r, c, id, typ) })
		case 4:
			c.offsetIndexOffset, err = r.fI64(id, typ)
			c.hasOffsetIndex = true
		case 5:
			c.offsetIndexLength, err = r.fI32(id, typ)
		case 6:
			c.columnIndexOffset, err = r.fI64(id, typ)
			c.hasColumnIndex = true
		case 7:
			c.columnIndexLength, err = r.fI32(id, typ)
		case 8, 9:
			c.encrypted = true
			err = r.skip(typ)
		default:
			err = r.skip(typ)
		}
		return err
	})
}

func parseColumnMeta(r *tReader, c *columnChunk, id int16, typ byte) error {
	var err error
	switch id {
	case 1:
		c.physType, err = r.fI32(id, typ)
	case 2:
		var n int
		if n, err = r.fList(id, typ, tI32); err != nil {
			return err
		}
		c.encodings = make([]int32, n)
		for i := range c.encodings {
			if c.encodings[i], err = r.i32(); err != nil {
				return err
			}
		}
	case 3:
		var n int
		if n, err = r.fList(id, typ, tBinary); err != nil {
			return err
		}
		c.path = make([]string, n)
		for i := range c.path {
			if c.path[i], err = r.str(); err != nil {
				return err
			}
		}
	case 4:
		c.codec, err = r.fI32(id, typ)
	case 5:
		c.numValues, err = r.fI64(id, typ)
	case 6:
		c.totalUncompressed, err = r.fI64(id, typ)
	case 7:
		c.totalCompressed, err = r.fI64(id, typ)
	case 9:
		c.dataPageOffset, err = r.fI64(id, typ)
	case 11:
		c.dictPageOffset, err = r.fI64(id, typ)
		c.hasDictOffset = true
	case 12:
		c.hasStats = true
		err = r.fStruct(id, typ, func(id int16, typ byte) error { return parseStats(r, &c.stats, id, typ) })
	default:
		err = r.skip(typ)
	}
	return err
}

func parseStats(r *tReader, s *rawStats, id int16, typ byte) error {
	var err error
	switch id {
	case 1:
		s.legacyMax, err = r.fBinary(id, typ)
		s.hasLegacy = true
	case 2:
		s.legacyMin, err = r.fBinary(id, typ)
		s.hasLegacy = true
	case 3:
		s.nullCount, err = r.fI64(id, typ)
		s.hasNullCount = true
	case 4:
		s.distinctCount, err = r.fI64(id, typ)
		s.hasDistinct = true
	case 5:
		s.max, err = r.fBinary(id, typ)
		s.hasMax = true
	case 6:
		s.min, err = r.fBinary(id, typ)
		s.hasMin = true
	case 7:
		s.maxExact, err = r.fBool(id, typ)
		s.hasMaxExa = true
	case 8:
		s.minExact, err = r.fBool(id, typ)
		s.hasMinExact = true
	default:
		err = r.skip(typ)
	}
	return err
}

// Page types.
const (
	pageDataV1     = 0
	pageIndex      = 1
	pageDictionary = 2
	pageDataV2     = 3
)

// pageHeader holds the PageHeader fields the decoder uses, flattened over
// its data, dictionary and V2 sub-headers.
type pageHeader struct {
	typ              int32
	uncompressedSize int32
	compressedSize   int32
	hasSub           bool
	numValues        int32
	encoding         int32
	defEncoding      int32
	repEncoding      int32
	// V2 only
	numNulls     int32
	numRows      int32
	defLen       int32
	repLen       int32
	isCompressed bool
}

// parsePageHeader decodes a PageHeader at the start of b and returns it
// with its encoded length.
func parsePageHeader(b []byte) (pageHeader, int, error) {
	r := &tReader{b: b}
	h := pageHeader{isCompressed: true}
	hasType, hasU, hasC := false, false, false
	err := r.readStruct(func(id int16, typ byte) error {
		var err error
		switch id {
		case 1:
			h.typ, err = r.fI32(id, typ)
			hasType = true
		case 2:
			h.uncompressedSize, err = r.fI32(id, typ)
			hasU = true
		case 3:
			h.compressedSize, err = r.fI32(id, typ)
			hasC = true
		case 5: // DataPageHeader
			h.hasSub = true
			err = r.fStruct(id, typ, func(id int16, typ byte) error {
				var err error
				switch id {
				case 1:
					h.numValues, err = r.fI32(id, typ)
				case 2:
					h.encoding, err = r.fI32(id, typ)
				case 3:
					h.defEncoding, err = r.fI32(id, typ)
				case 4:
					h.repEncoding, err = r.fI32(id, typ)
				default:
					err = r.skip(typ)
				}
				return err
			})
		case 7: // DictionaryPageHeader
			h.hasSub = true
			err = r.fStruct(id, typ, func(id int16, typ byte) error {
				var err error
				switch id {
				case 1:
					h.numValues, err = r.fI32(id, typ)
				case 2:
					h.encoding, err = r.fI32(id, typ)
				default:
					err = r.skip(typ)
				}
				return err
			})
		case 8: // DataPageHeaderV2
			h.hasSub = true
			err = r.fStruct(id, typ, func(id int16, typ byte) error {
				var err error
				switch id {
				case 1:
					h.numValues, err = r.fI32(id, typ)
				case 2:
					h.numNulls, err = r.fI32(id, typ)
				case 3:
					h.numRows, err = r.fI32(id, typ)
				case 4:
					h.encoding, err = r.fI32(id, typ)
				case 5:
					h.defLen, err = r.fI32(id, typ)
				case 6:
					h.repLen, err = r.fI32(id, typ)
				case 7:
					h.isCompressed, err = r.fBool(id, typ)
				default:
					err = r.skip(typ)
				}
				return err
			})
		default:
			err = r.skip(typ)
		}
		return err
	})
	if err != nil {
		return h, 0, err
	}
	if !hasType || !hasU || !hasC {
		return h, 0, r.fail("page header lacks type or sizes")
	}
	if h.uncompressedSize < 0 || h.compressedSize < 0 {
		return h, 0, r.fail("negative page size")
	}
	return h, r.pos, nil
}

// pageLocation is one entry of an OffsetIndex.
type pageLocation struct {
	offset         int64
	compressedSize int32
	firstRow       int64
}

func parseOffsetIndex(b []byte) ([]pageLocation, error) {
	r := &tReader{b: b}
	var locs []pageLocation
	err := r.readStruct(func(id int16, typ byte) error {
		if id != 1 {
			return r.skip(typ)
		}
		n, err := r.fList(id, typ, tStruct)
		if err != nil {
			return err
		}
		locs = make([]pageLocation, n)
		for i := range locs {
			l := &locs[i]
			if err := r.readStruct(func(id int16, typ byte) error {
				var err error
				switch id {
				case 1:
					l.offset, err = r.fI64(id, typ)
				case 2:
					l.compressedSize, err = r.fI32(id, typ)
				case 3:
					l.firstRow, err = r.fI64(id, typ)
				default:
					err = r.skip(typ)
				}
				return err
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return locs, err
}
