package wavestore

// Decoders of outside input, for the tests of package wavestore_test.
var (
	ParseINI       = func(data []byte) error { _, err := parseINI("test.ini", data); return err }
	ParseEvent     = func(data []byte) error { _, err := parseEvent("test.event", data); return err }
	ParseSegment   = func(data []byte) error { _, err := parseSegment("seg.wsv", data); return err }
	DecodeMessage  = func(data []byte) error { _, err := decodeMessage(data); return err }
	DecodeCopyLine = func(data []byte) error { _, err := decodeCopyLine(data); return err }
	ParseTracks    = func(s string) error { _, err := parseTracks(s); return err }
)
