package actions

import "crypto/rand"

// NewPairCode makes a fresh random pairing code, formatted for reading
// (7KQ4-M9X2-TP).
func NewPairCode() (string, error) {
	raw := make([]byte, PairCodeLen)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	for i := range raw {
		// 32 symbols: taking 5 bits of a random byte has no bias.
		raw[i] = PairCodeAlphabet[raw[i]&31]
	}
	return FormatPairCode(string(raw)), nil
}
