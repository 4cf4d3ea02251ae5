package gt06

import "carevisit/protocol"

// appendFrame appends a complete frame: start, length, type, content,
// serial, CRC-ITU over length..serial, stop.
func appendFrame(dst []byte, long bool, typ byte, content []byte, serial uint16) []byte {
	start := len(dst)
	n := 5 + len(content)
	if long {
		dst = append(dst, 0x79, 0x79, byte(n>>8), byte(n))
	} else {
		dst = append(dst, 0x78, 0x78, byte(n))
	}
	dst = append(dst, typ)
	dst = append(dst, content...)
	dst = append(dst, byte(serial>>8), byte(serial))
	crc := crcITU(dst[start+2:])
	return append(dst, byte(crc>>8), byte(crc), '\r', '\n')
}

// beginFrame starts a short frame whose length byte is patched by endFrame.
func beginFrame(dst []byte, typ byte) ([]byte, int) {
	return append(dst, 0x78, 0x78, 0, typ), len(dst)
}

func endFrame(dst []byte, start int, serial uint16) []byte {
	dst = append(dst, byte(serial>>8), byte(serial))
	dst[start+2] = byte(len(dst) - start - 3 + 2) // type..serial, plus the CRC
	crc := crcITU(dst[start+2:])
	return append(dst, byte(crc>>8), byte(crc), '\r', '\n')
}

// AppendReply appends the ack the server sends for a frame of type typ.
func AppendReply(dst []byte, typ byte, serial uint16) []byte {
	return appendFrame(dst, false, typ, nil, serial)
}

// AppendLogin appends a login frame (0x01) for a 15-digit IMEI.
func AppendLogin(dst []byte, imei string, serial uint16) []byte {
	var bcd [8]byte
	digits := "0" + imei
	for i := 0; i < 16 && i < len(digits); i++ {
		v := digits[i] - '0'
		if i%2 == 0 {
			bcd[i/2] = v << 4
		} else {
			bcd[i/2] |= v & 0xf
		}
	}
	content := append(bcd[:], 0x00, 0x00) // model code
	return appendFrame(dst, false, msgLogin, content, serial)
}

// AppendTimeRequest appends a time request (0x8A).
func AppendTimeRequest(dst []byte, serial uint16) []byte {
	return appendFrame(dst, false, msgTimeRequest, nil, serial)
}

// appendGPS appends the 18-byte GPS block of m (time in UTC).
func appendGPS(dst []byte, m protocol.Message) []byte {
	t := m.Time.UTC()
	year := t.Year() - 2000
	if year < 0 || year > 255 {
		year = 0
	}
	dst = append(dst, byte(year), byte(t.Month()), byte(t.Day()), byte(t.Hour()), byte(t.Minute()), byte(t.Second()))
	sats := min(max(m.Sats, 0), 15)
	dst = append(dst, 0xC0|byte(sats))
	lat, lon := m.Lat, m.Lon
	flags := uint16(int(m.Course+0.5)%360) & 0x3ff
	if lat >= 0 {
		flags |= 1 << 10
	} else {
		lat = -lat
	}
	if lon < 0 {
		flags |= 1 << 11
		lon = -lon
	}
	if m.Valid {
		flags |= 1 << 12
	}
	if m.Has&protocol.HasIgnition != 0 {
		flags |= 1 << 14
		if m.Ignition {
			flags |= 1 << 15
		}
	}
	la, lo := uint32(lat*1800000+0.5), uint32(lon*1800000+0.5)
	dst = append(dst, byte(la>>24), byte(la>>16), byte(la>>8), byte(la))
	dst = append(dst, byte(lo>>24), byte(lo>>16), byte(lo>>8), byte(lo))
	speed := min(max(int(m.SpeedKmh+0.5), 0), 255)
	return append(dst, byte(speed), byte(flags>>8), byte(flags))
}

// appendCell appends MCC(2) MNC(1) LAC(2) CID(3).
func appendCell(dst []byte, m protocol.Message) []byte {
	return append(dst, byte(m.MCC>>8), byte(m.MCC), byte(m.MNC), byte(m.LAC>>8), byte(m.LAC),
		byte(m.CID>>16), byte(m.CID>>8), byte(m.CID))
}

// AppendLocation appends a GPS+LBS location (0x22) with the ACC / upload
// mode / re-upload trailer; m.Archive sets the re-upload flag.
func AppendLocation(dst []byte, m protocol.Message, serial uint16) []byte {
	dst, start := beginFrame(dst, msgGPSLBS2)
	dst = appendGPS(dst, m)
	dst = appendCell(dst, m)
	acc, archive := byte(0), byte(0)
	if m.Ignition {
		acc = 1
	}
	if m.Archive {
		archive = 1
	}
	dst = append(dst, acc, 0x00, archive)
	return endFrame(dst, start, serial)
}

// statusBytes returns terminal info, voltage level and GSM signal for m.
func statusBytes(m protocol.Message, alarmBits byte) (info, level, gsm byte) {
	if m.Ignition {
		info |= 0x02
	}
	if m.Charging {
		info |= 0x04
	}
	info |= alarmBits << 3
	b := min(max(m.Battery, 0), 100)
	if b > 6 {
		level = byte(b) // 7..100 is read as a percent
	} else {
		level = byte(b * 6 / 100) // 0..6 is the level scale
	}
	gsm = byte(min(max(m.RSSI, 0), 4))
	return info, level, gsm
}

// AppendHeartbeat appends a status/heartbeat (0x13) with battery, charging,
// ignition and GSM signal.
func AppendHeartbeat(dst []byte, m protocol.Message, serial uint16) []byte {
	info, level, gsm := statusBytes(m, 0)
	return appendFrame(dst, false, msgStatus, []byte{info, level, gsm, 0x00, 0x02}, serial)
}

// alarmCode maps an alarm name to the status-block alarm code (0 = none).
func alarmCode(name string) byte {
	switch name {
	case alarmSOS:
		return 0x01
	case alarmPowerCut:
		return 0x02
	case alarmVibration:
		return 0x03
	case alarmGeofenceIn:
		return 0x04
	case alarmGeofenceOut:
		return 0x05
	case alarmOverspeed:
		return 0x06
	case alarmLowBattery:
		return 0x0E
	case alarmPowerOff:
		return 0x11
	case alarmTampering:
		return 0x13
	case alarmRemoving:
		return 0x18
	case alarmFallDown:
		return 0x23
	}
	return 0
}

// AppendAlarm appends a GPS+LBS+status alarm (0x26) for m.Alarm (Traccar
// name: "sos", "powerCut", "vibration", "lowBattery", "fallDown", ...).
func AppendAlarm(dst []byte, m protocol.Message, serial uint16) []byte {
	dst, start := beginFrame(dst, msgGPSLBSStatus2)
	dst = appendGPS(dst, m)
	dst = append(dst, 9)
	dst = appendCell(dst, m)
	info, level, gsm := statusBytes(m, 0)
	dst = append(dst, info, level, gsm, alarmCode(m.Alarm), 0x02)
	return endFrame(dst, start, serial)
}
