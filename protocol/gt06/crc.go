package gt06

// crcTables are the CRC-ITU / X.25 (reflected poly 0x8408) tables for
// slicing-by-8: the CRC is half the cost of decoding a location frame with a
// byte-at-a-time table. Computed once, never written again.
var crcTables = func() (t [8][256]uint16) {
	for i := range t[0] {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x8408
			} else {
				c >>= 1
			}
		}
		t[0][i] = c
	}
	for i := range 256 {
		for k := 1; k < 8; k++ {
			c := t[k-1][i]
			t[k][i] = c>>8 ^ t[0][byte(c)]
		}
	}
	return t
}()

// crcITU returns the X.25 CRC of b (init 0xFFFF, final xor 0xFFFF).
func crcITU(b []byte) uint16 {
	t := &crcTables
	c := uint16(0xFFFF)
	for len(b) >= 8 {
		c ^= uint16(b[0]) | uint16(b[1])<<8
		c = t[7][byte(c)] ^ t[6][c>>8] ^ t[5][b[2]] ^ t[4][b[3]] ^
			t[3][b[4]] ^ t[2][b[5]] ^ t[1][b[6]] ^ t[0][b[7]]
		b = b[8:]
	}
	for _, x := range b {
		c = c>>8 ^ t[0][byte(c)^x]
	}
	return ^c
}
