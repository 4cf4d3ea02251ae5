package gt06

// crcTable is the CRC-ITU / X.25 table (reflected poly 0x8408). It is
// computed once and never written again.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0x8408
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crcITU returns the X.25 CRC of b (init 0xFFFF, final xor 0xFFFF).
func crcITU(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, x := range b {
		c = c>>8 ^ crcTable[byte(c)^x]
	}
	return ^c
}
