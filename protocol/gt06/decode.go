package gt06

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"carevisit/protocol"
)

// Message types (protocol numbers). Several numbers have a second meaning on
// some vendors' devices; see detectVariant.
const (
	msgLogin          = 0x01
	msgGPS            = 0x10
	msgGPSLBS6        = 0x11
	msgGPSLBS1        = 0x12
	msgStatus         = 0x13
	msgString         = 0x15
	msgGPSLBSStatus1  = 0x16
	msgWiFi           = 0x17 // GPS+LBS+RFID on the RFID variant
	msgLBSExtend      = 0x18
	msgLBSStatus      = 0x19
	msgGPSPhone       = 0x1A
	msgGPSLBSExtend   = 0x1E
	msgStringInfo     = 0x21 // long frames
	msgGPSLBS2        = 0x22
	msgHeartbeat      = 0x23
	msgLBSMultiple3   = 0x24
	msgGPSLBSDriver   = 0x25
	msgGPSLBSStatus2  = 0x26
	msgGPSLBSStatus3  = 0x27
	msgLBSMultiple1   = 0x28
	msgAddressRequest = 0x2A
	msgLBSWiFi        = 0x2C
	msgGPSLBS4        = 0x2D
	msgLBSMultiple2   = 0x2E
	msgGPSLBS5        = 0x31
	msgGPSLBSStatus4  = 0x32 // AZ735 GPS in long frames
	msgWiFi5          = 0x33 // AZ735 alarm in long frames
	msgX1GPS          = 0x34 // multi-cell LBS on SL4X
	msgX1PhotoInfo    = 0x35
	msgStatus2        = 0x36 // photo data in long frames
	msgGPSLBS3        = 0x37
	msgGPSLBS8        = 0x38 // long frames
	msgBMS            = 0x40
	msgMultimedia     = 0x41
	msgIButton        = 0x61
	msgWiFi2          = 0x69
	msgModular        = 0x70 // long frames
	msgCommand0       = 0x80
	msgCommand1       = 0x81
	msgCommand2       = 0x82
	msgTimeRequest    = 0x8A
	msgOBD            = 0x8C // long frames
	msgInfo           = 0x94
	msgAlarm          = 0x95
	msgAddressReply   = 0x97
	msgSerial         = 0x9B // long frames
	msgGPSLBS7        = 0xA0
	msgLBS2           = 0xA1
	msgWiFi3          = 0xA2 // GPS+LBS+status on LW4G
	msgFenceSingle    = 0xA3 // status on SEEWORLD
	msgFenceMulti     = 0xA4
	msgLBSAlarm       = 0xA5
	msgLBSAddress     = 0xA7
	msgPeripheral     = 0xF2 // long frames
	msgWiFi4          = 0xF3
)

// Alarm names, as Traccar spells them.
const (
	alarmGeneral      = "general"
	alarmSOS          = "sos"
	alarmVibration    = "vibration"
	alarmPowerCut     = "powerCut"
	alarmPowerOff     = "powerOff"
	alarmPowerOn      = "powerOn"
	alarmLowBattery   = "lowBattery"
	alarmLowPower     = "lowPower"
	alarmGeofence     = "geofence"
	alarmGeofenceIn   = "geofenceEnter"
	alarmGeofenceOut  = "geofenceExit"
	alarmOverspeed    = "overspeed"
	alarmTampering    = "tampering"
	alarmRemoving     = "removing"
	alarmDoor         = "door"
	alarmAccident     = "accident"
	alarmAcceleration = "hardAcceleration"
	alarmBraking      = "hardBraking"
	alarmCornering    = "hardCornering"
	alarmFallDown     = "fallDown"
	alarmTow          = "tow"
	alarmJamming      = "jamming"
	alarmTemperature  = "temperature"
)

// Cell is one cell tower of a multi-cell report (Extra["cells"]).
type Cell struct {
	MCC  int   `json:"mcc"`
	MNC  int   `json:"mnc"`
	LAC  int64 `json:"lac"`
	CID  int64 `json:"cid"`
	RSSI int   `json:"rssi,omitempty"`
}

// WiFi is one access point of a Wi-Fi report (Extra["wifi"]).
type WiFi struct {
	MAC  string `json:"mac"`
	RSSI int    `json:"rssi,omitempty"`
}

func hasGPS(t byte, v variant) bool {
	switch t {
	case msgGPS, msgGPSLBS1, msgGPSLBS2, msgGPSLBSDriver, msgGPSLBS3, msgGPSLBS4, msgGPSLBS5, msgGPSLBS6,
		msgGPSLBSStatus1, msgGPSLBSStatus2, msgGPSLBSStatus3, msgGPSLBSStatus4, msgWiFi3, msgGPSPhone,
		msgGPSLBSExtend, msgGPSLBS7, msgWiFi, msgFenceMulti:
		return true
	case msgFenceSingle:
		return v != vSeeworld
	}
	return false
}

func hasLBS(t byte, v variant) bool {
	switch t {
	case msgLBSStatus, msgGPSLBS1, msgGPSLBS2, msgGPSLBSDriver, msgGPSLBS3, msgGPSLBS4, msgGPSLBS5, msgGPSLBS6,
		msgGPSLBSStatus1, msgGPSLBSStatus2, msgGPSLBSStatus3, msgGPSLBSStatus4, msgWiFi3, msgGPSLBS7,
		msgWiFi, msgFenceMulti, msgLBSAlarm, msgLBSAddress:
		return true
	case msgFenceSingle:
		return v != vSeeworld
	}
	return false
}

func (d *decoder) hasStatus(t byte) bool {
	switch t {
	case msgStatus, msgStatus2, msgLBSStatus, msgGPSLBSStatus1, msgGPSLBSStatus2, msgGPSLBSStatus3,
		msgGPSLBSStatus4, msgWiFi3, msgFenceMulti, msgLBSAlarm:
		return true
	case msgGPSLBS2, msgGPSLBSDriver:
		return d.modelNT
	case msgFenceSingle:
		return d.variant == vSeeworld
	}
	return false
}

// alarmName maps the alarm code of the status block; some codes depend on
// the model.
func (d *decoder) alarmName(v int) string {
	switch v {
	case 0x01:
		return alarmSOS
	case 0x02:
		return alarmPowerCut
	case 0x03:
		return alarmVibration
	case 0x04:
		return alarmGeofenceIn
	case 0x05:
		return alarmGeofenceOut
	case 0x06:
		return alarmOverspeed
	case 0x09:
		if d.modelVL {
			return alarmTow
		}
		return alarmVibration
	case 0x0E, 0x0F:
		return alarmLowBattery
	case 0x11:
		return alarmPowerOff
	case 0x0C, 0x13, 0x25:
		return alarmTampering
	case 0x14:
		return alarmDoor
	case 0x18:
		if d.modelLW {
			return alarmAccident
		}
		return alarmRemoving
	case 0x19:
		if d.modelLW {
			return alarmAcceleration
		}
		return alarmLowBattery
	case 0x1A, 0x27:
		return alarmBraking
	case 0x1B, 0x2A, 0x2B, 0x2E:
		return alarmCornering
	case 0x23:
		return alarmFallDown
	case 0x26:
		return alarmAcceleration
	case 0x28:
		if d.modelSW {
			return alarmCornering
		}
		return alarmBraking
	case 0x29:
		if d.modelSW {
			return alarmAccident
		}
		return alarmAcceleration
	case 0x2C:
		return alarmAccident
	case 0x30:
		if d.modelVL {
			return alarmBraking
		}
		return alarmJamming
	}
	return ""
}

// gps reads the GPS block into d.m. With hasLength, a zero GPS length byte
// means "no fix" (only the time is read) and gps returns false.
func (d *decoder) gps(hasLength, hasSats, hasSpeed, longSpeed, swapFlags bool) bool {
	r := &d.r
	d.m.Time = d.date()
	if hasLength && r.u8() == 0 {
		return false
	}
	if hasSats {
		d.m.Sats = r.u8() & 0x0f
		d.m.Has |= protocol.HasSats
	}
	lat := float64(r.u32()) / 1800000
	lon := float64(r.u32()) / 1800000
	flags := 0
	if swapFlags {
		flags = r.u16()
	}
	if hasSpeed {
		if longSpeed {
			d.m.SpeedKmh = float64(r.u16())
		} else {
			d.m.SpeedKmh = float64(r.u8())
		}
		d.m.Has |= protocol.HasSpeed
	}
	if !swapFlags {
		flags = r.u16()
	}
	d.setFix(lat, lon, flags)
	return true
}

// setFix applies the course/status word to a fix.
func (d *decoder) setFix(lat, lon float64, flags int) {
	d.m.Type = protocol.TypePosition
	d.m.Course = float64(flags & 0x3ff)
	d.m.Has |= protocol.HasCourse
	d.m.Valid = flags&(1<<12) != 0
	if flags&(1<<10) == 0 {
		lat = -lat
	}
	if flags&(1<<11) != 0 {
		lon = -lon
	}
	d.m.Lat, d.m.Lon = lat, lon
	if flags&(1<<14) != 0 {
		d.m.Ignition = flags&(1<<15) != 0
		d.m.Has |= protocol.HasIgnition
	}
}

// lbs reads one serving cell. With hasLength the block starts with a length
// byte that counts itself; 0 means no cell data.
func (d *decoder) lbs(hasLength bool) bool {
	r := &d.r
	t := d.typ
	length := 0
	if hasLength {
		length = r.u8()
		if length == 0 {
			// Some firmwares zero-fill the whole LBS area after a 0 length.
			zero := true
			for i := r.off + 9; i < r.off+45 && i < len(r.b); i++ {
				if r.b[i] != 0 {
					zero = false
					break
				}
			}
			if zero {
				r.skip(min(r.left(), 45))
			}
			return false
		}
	}
	cellType := 0
	if t == msgGPSLBS8 {
		cellType = r.u8()
	}
	mcc := r.u16()
	var mnc int
	if mcc&0x8000 != 0 || t == msgGPSLBS6 || d.variant == vSL4X {
		mnc = r.u16()
	} else {
		mnc = r.u8()
	}
	wide := cellType >= 3 || t == msgLBSAlarm || t == msgGPSLBS7 || t == msgWiFi3
	var lac, cid int64
	if wide {
		lac = r.i32()
	} else {
		lac = int64(r.u16())
	}
	switch {
	case wide || d.variant == vSL4X:
		cid = r.i64()
	case t == msgGPSLBS6 || t == msgIButton || t == msgGPSLBSDriver || d.variant == vSeeworld:
		cid = r.u32()
	default:
		cid = r.u24()
	}
	if cellType >= 3 {
		r.u16() // rssi
	} else if t == msgGPSLBS8 {
		r.u8() // rssi
	}
	d.m.MCC, d.m.MNC, d.m.LAC, d.m.CID = mcc&0x7fff, mnc, lac, cid
	d.m.Has |= protocol.HasCell
	if length > 9 {
		r.skip(length - 9)
	}
	return true
}

// status reads the terminal information byte.
func (d *decoder) status() {
	s := d.r.u8()
	d.m.Status = uint32(s)
	d.m.Ignition = s&0x02 != 0
	d.m.Charging = s&0x04 != 0
	d.m.Has |= protocol.HasStatus | protocol.HasIgnition | protocol.HasCharging
	if s&0x80 != 0 {
		d.m.SetExtra("blocked", true)
	}
	switch (s >> 3) & 7 {
	case 1:
		d.addAlarm(alarmVibration)
	case 2:
		d.addAlarm(alarmPowerCut)
	case 3:
		d.addAlarm(alarmLowBattery)
	case 4:
		d.addAlarm(alarmSOS)
	case 6:
		d.addAlarm(alarmGeofence)
	case 7:
		if d.variant == vVXT01 {
			d.addAlarm(alarmOverspeed)
		} else {
			d.addAlarm(alarmRemoving)
		}
	}
}

// battery stores a voltage-level byte: 0..6 is a scale, 7..100 a percent.
func (d *decoder) battery(v int) {
	switch {
	case v <= 6:
		d.m.Battery = v * 100 / 6
	case v <= 100:
		d.m.Battery = v
	default:
		return
	}
	d.m.Has |= protocol.HasBattery
}

func (d *decoder) power(v float64) {
	d.m.Voltage = v
	d.m.Has |= protocol.HasVoltage
}

// statusType marks a message without a fix of its own.
func (d *decoder) statusType(t string) {
	if d.m.Type == "" {
		d.m.Type = t
	}
}

func (d *decoder) decodeShort() bool {
	r := &d.r
	t := d.typ
	dataLength := d.length - 5

	switch {
	case t == msgLogin:
		return d.login(dataLength)

	case t == msgHeartbeat:
		d.m.Type = protocol.TypeStatus
		s := r.u8()
		d.m.SetExtra("armed", s&1 != 0)
		d.m.Ignition = s&2 != 0
		d.m.Charging = s&4 != 0
		d.m.Has |= protocol.HasIgnition | protocol.HasCharging
		if r.left() >= 2+6 {
			d.m.SetExtra("battery", float64(r.u16())*0.01)
		}
		if r.left() >= 1+6 {
			d.m.RSSI = r.u8()
			d.m.Has |= protocol.HasRSSI
		}
		d.ack(t, d.serial, nil)
		return true

	case t == msgAddressRequest:
		const text = "NA&&NA&&0##"
		var content [5 + len(text)]byte
		content[0] = byte(len(text))
		copy(content[5:], text)
		d.reply = appendFrame(d.reply, true, msgAddressReply, content[:], 0)
		d.hasReply = true
		return false

	case t == msgTimeRequest:
		now := d.c.now().UTC()
		d.m.Type = protocol.TypeTime
		content := [6]byte{byte(now.Year() - 2000), byte(now.Month()), byte(now.Day()),
			byte(now.Hour()), byte(now.Minute()), byte(now.Second())}
		d.ack(msgTimeRequest, 0, content[:])
		return true

	case t == msgX1GPS && d.variant != vSL4X:
		r.u32() // data and alarm
		d.gps(false, true, true, false, false)
		r.u16() // terminal info
		d.odometer(float64(r.u32()))
		d.m.MCC, d.m.MNC, d.m.LAC, d.m.CID = r.u16(), r.u8(), int64(r.u16()), r.u32()
		d.m.Has |= protocol.HasCell
		if id := r.u32(); id > 0 {
			d.m.SetExtra("driverUniqueId", strconv.FormatInt(id, 10))
		}
		d.m.SetExtra("battery", float64(r.u16())*0.01)
		d.power(float64(r.u16()) * 0.01)
		ports := r.u32()
		d.m.SetExtra("input", r.u8())
		d.m.SetExtra("output", r.u8())
		for i := 1; i <= int(ports>>20&0xf); i++ {
			d.m.SetExtra("adc"+strconv.Itoa(i), float64(r.u16())*0.01)
		}
		return true

	case t == msgX1PhotoInfo:
		return false // photo transfer is not supported

	case (t == msgWiFi && d.variant != vRFID) || t == msgWiFi2 || t == msgWiFi4:
		return d.wifi()

	case t == msgInfo:
		d.m.Type = protocol.TypeInfo
		d.power(float64(r.i16()) * 0.01)
		return true

	case t == msgLBSMultiple3 && d.variant == vSR411Mini:
		d.gps(false, true, true, false, false)
		d.lbs(false)
		d.m.Ignition = r.u8() > 0
		d.m.Has |= protocol.HasIgnition
		d.power(float64(r.u16()) * 0.01)
		d.m.SetExtra("battery", float64(r.u16())*0.01)
		return true

	case t == msgLBSMultiple1 || t == msgLBSMultiple2 || t == msgLBSMultiple3 || t == msgLBSExtend ||
		t == msgLBSWiFi || t == msgLBS2 || (t == msgX1GPS && d.variant == vSL4X) ||
		(t == msgWiFi3 && d.variant != vLW4G) || t == msgWiFi5:
		d.multiCell()

	case t == msgString:
		n := r.u8()
		d.m.Type = protocol.TypeResult
		if n > 0 {
			r.u32() // server flag
			data := asciiString(r.take(n - 4))
			if strings.HasPrefix(data, "<ICCID:") && len(data) >= 27 {
				d.m.Type = protocol.TypeInfo
				d.m.SetExtra("iccid", data[7:27])
			} else {
				d.m.SetExtra("result", data)
			}
		}

	case t == msgBMS:
		d.ack(t, d.serial, nil)
		return false // battery management reports are not decoded

	case t == msgStatus && r.left() == 22:
		d.m.Type = protocol.TypeStatus
		r.u8()  // information content
		r.u16() // satellites
		r.u8()  // alarm
		r.u8()  // language
		d.m.Battery = r.u8()
		d.m.Has |= protocol.HasBattery
		r.skip(1 + 2 + 1 + 2 + 2) // mode, voltage, reserved, working times, working time
		v := r.u16()
		temp := float64(v&0x7fff) * 0.1
		if v&0x8000 == 0 {
			temp = -temp
		}
		d.m.SetExtra("temp1", temp)

	case t == msgIButton:
		r.skip(8) // imei
		d.gps(false, true, true, false, false)
		d.lbs(false)
		id := r.u32()<<16 | int64(r.u16())
		d.m.SetExtra("driverUniqueId", strconv.FormatInt(id, 10))

	case d.modelVL && t == msgStatus2:
		// VL103 GPS + LBS + driver card report (layout inferred from captures).
		d.gps(false, true, true, false, false)
		d.m.MCC, d.m.MNC, d.m.LAC, d.m.CID = r.u16(), r.u8(), int64(r.u16()), r.u32()
		d.m.Has |= protocol.HasCell
		d.driverCard()

	case hasGPS(t, d.variant) || hasLBS(t, d.variant) || d.hasStatus(t):
		if t == msgLBSStatus && d.variant == vSpace10X {
			return false // multi-LBS message, not decoded
		}
		d.supported()

	case t == msgAlarm:
		d.alarm(dataLength)

	default:
		if t != msgCommand0 && t != msgCommand1 && t != msgCommand2 {
			d.ack(t, d.serial, nil)
		}
		return false
	}
	d.ack(t, d.serial, nil)
	return true
}

func (d *decoder) login(dataLength int) bool {
	r := &d.r
	imeiBytes := r.take(8)
	r.u16() // model code
	if imeiBytes == nil {
		return false
	}
	var digits [16]byte
	hex.Encode(digits[:], imeiBytes)
	imei := string(digits[1:])

	d.c.loginZone = nil
	if dataLength > 10 {
		bits := r.u16()
		offset := ((bits>>4)/100*60 + (bits>>4)%100) * 60
		if bits&0x8 != 0 {
			offset = -offset
		}
		d.c.loginZone = time.FixedZone("", offset)
	}
	d.c.deviceID = imei
	*d.m = protocol.Message{Type: protocol.TypeLogin, DeviceID: imei}
	d.ack(msgLogin, d.serial, nil)
	return true
}

func (d *decoder) odometer(v float64) {
	d.m.Odometer = v
	d.m.Has |= protocol.HasOdometer
}

// driverCard reads the 8-byte driver card id VL-series devices put right
// before the trailer, after a marker byte.
func (d *decoder) driverCard() {
	r := &d.r
	if n := r.left() - 6; n >= 9 {
		r.skip(n - 8)
		d.m.SetExtra("driverUniqueId", hex.EncodeToString(r.take(8)))
	}
}

// wifi decodes 0x17/0x69 (count in the length byte, BCD time) and 0xF3.
func (d *decoder) wifi() bool {
	r := &d.r
	t := d.typ
	bcd := r.take(6)
	if bcd == nil {
		return false
	}
	d.m.Type = protocol.TypeNetwork
	d.m.Approximate = true
	d.m.Time = bcdTime(bcd)
	var count int
	if t == msgWiFi4 {
		count = r.u8()
	} else {
		count = int(d.frame[2])
	}
	var aps []WiFi
	for i := 0; i < count && !r.bad; i++ {
		if t == msgWiFi4 {
			r.skip(2)
		}
		ap := WiFi{MAC: macString(r.take(6))}
		if t != msgWiFi4 {
			ap.RSSI = r.u8()
		}
		aps = append(aps, ap)
	}
	if len(aps) > 0 {
		d.m.SetExtra("wifi", aps)
	}
	if t == msgWiFi4 {
		return true
	}
	n := r.u8()
	mcc, mnc := r.u16(), r.u8()
	cells := make([]Cell, 0, min(n, 16))
	for i := 0; i < n && !r.bad; i++ {
		cells = append(cells, Cell{MCC: mcc, MNC: mnc, LAC: int64(r.u16()), CID: int64(r.u16()), RSSI: r.u8()})
	}
	d.setCells(cells)
	// The reply echoes the BCD time, without serial or CRC.
	d.reply = append(d.reply, 0x78, 0x78, 0x00, t)
	d.reply = append(d.reply, bcd...)
	d.reply = append(d.reply, '\r', '\n')
	d.hasReply = true
	return true
}

func (d *decoder) setCells(cells []Cell) {
	if len(cells) == 0 {
		return
	}
	c := cells[0]
	d.m.MCC, d.m.MNC, d.m.LAC, d.m.CID = c.MCC, c.MNC, c.LAC, c.CID
	d.m.Has |= protocol.HasCell
	d.m.SetExtra("cells", cells)
}

// multiCell decodes the multi-cell (and Wi-Fi) LBS reports.
func (d *decoder) multiCell() {
	r := &d.r
	t := d.typ
	d.m.Type = protocol.TypeNetwork
	d.m.Approximate = true
	d.m.Time = d.date()
	s20 := d.variant == vWanwayS20 || d.variant == vSL4X
	if s20 {
		r.u8() // timing advance
	}
	mcc := r.u16()
	var mnc int
	if mcc&0x8000 != 0 || d.variant == vSL4X {
		mnc = r.u16()
	} else {
		mnc = r.u8()
	}
	count := 7
	switch {
	case d.variant == vWanwayS20:
		count = r.u8()
	case t == msgWiFi5:
		count = 6
	}
	cells := make([]Cell, 0, min(count, 16))
	for i := 0; i < count && !r.bad; i++ {
		var lac, cid int64
		switch {
		case t == msgLBS2 || t == msgWiFi3:
			lac = r.i32()
			cid = int64(int32(r.i64())) // Traccar keeps the low 32 bits
		case t == msgWiFi5 || t == msgX1GPS:
			lac = int64(r.u16())
			cid = int64(int32(uint32(r.u32())))
		default:
			lac = int64(r.u16())
			cid = r.u24()
		}
		rssi := -r.u8()
		if lac > 0 {
			cells = append(cells, Cell{MCC: mcc & 0x7fff, MNC: mnc, LAC: lac, CID: cid, RSSI: rssi})
		}
	}
	if !s20 {
		r.u8() // timing advance
	}
	if t != msgLBSMultiple1 && t != msgLBSMultiple2 && t != msgLBSMultiple3 && t != msgLBS2 && t != msgX1GPS {
		n := r.u8()
		var aps []WiFi
		for i := 0; i < n && !r.bad; i++ {
			aps = append(aps, WiFi{MAC: macString(r.take(6)), RSSI: r.u8()})
		}
		if len(aps) > 0 {
			d.m.SetExtra("wifi", aps)
		}
	}
	d.setCells(cells)
}

// supported decodes the GPS / LBS / status family.
func (d *decoder) supported() {
	r := &d.r
	t := d.typ
	if t == msgGPSLBS1 && d.modelQH302R {
		r.skip(8) // imei
	}
	if (t == msgGPSLBS2 || t == msgGPSLBSDriver) && d.modelNT {
		r.u8()    // location source
		r.skip(8) // imei
		r.skip(6) // device time
	}
	if hasGPS(t, d.variant) {
		d.gps(false, true, true, false, false)
	} else {
		d.m.Type = protocol.TypeStatus
	}
	hasStatus := d.hasStatus(t)
	if hasLBS(t, d.variant) && r.left() > 6 {
		hasLength := hasStatus && t != msgLBSStatus && t != msgLBSAlarm &&
			(t != msgGPSLBSStatus1 || d.variant != vVXT01) && t != msgWiFi3
		d.lbs(hasLength)
	}
	if hasStatus {
		d.statusBlock()
	}
	if t == msgStatus2 || t == msgWiFi3 || t == msgGPSLBSStatus3 || t == msgFenceMulti ||
		(d.modelNT && (t == msgGPSLBS2 || t == msgGPSLBSDriver)) {
		r.u8() // language
	}
	if t == msgStatus2 {
		for r.left() > 6 {
			mt, ml := r.u16(), r.u8()
			switch mt {
			case 0x0018:
				d.m.SetExtra("battery", float64(r.u16())/100)
			case 0x0032:
				d.m.SetExtra("startupStatus", r.u8())
			case 0x006A:
				d.m.Battery = r.u8()
				d.m.Has |= protocol.HasBattery
			default:
				r.skip(ml)
			}
		}
	}
	if t == msgWiFi3 { // LW4G
		d.odometer(float64(r.u32()))
		d.m.SetExtra("hours", r.u32()*1000)
		r.skip(8) // terminal id
		d.m.SetExtra("input", r.u16())
	}
	if t == msgGPSLBS1 {
		d.gpsLBS1Tail()
	}
	if t == msgGPSLBS2 && d.variant == vSeeworld {
		d.m.Ignition = r.u8() > 0
		d.m.Has |= protocol.HasIgnition
		r.u8() // reporting mode
		r.u8() // supplementary transmission
		d.odometer(float64(r.u32()))
		r.u32() // travel time
		temp := r.u16()
		if temp&0x8000 != 0 {
			temp = -(temp & 0x7fff)
		}
		d.m.SetExtra("temp1", float64(temp)*0.01)
		d.m.SetExtra("humidity", float64(r.u16())*0.01)
	}
	if t == msgGPSLBSStatus4 && d.variant == vSL4X {
		d.altitude(r.i16())
	}
	if (t == msgGPSLBS2 || t == msgGPSLBS3 || t == msgGPSLBS4 || t == msgGPSLBS5) && r.left() >= 3+6 && !d.modelNT {
		d.m.Ignition = r.u8() > 0
		d.m.Has |= protocol.HasIgnition
		r.u8() // upload reason
		d.m.Archive = r.u8() > 0
		if d.variant == vSL4X {
			if r.left() > 2+6 {
				d.odometer(float64(r.u32()))
			}
			d.altitude(r.i16())
		}
	}
	if t == msgGPSLBS3 {
		module, n := r.u16(), r.u8()
		switch module {
		case 0x0027:
			d.power(float64(r.u16()) * 0.01)
		case 0x002E:
			d.odometer(float64(r.u32()))
		case 0x003B:
			d.m.AccuracyM = float64(r.u16()) * 0.01
			d.m.Has |= protocol.HasAccuracy
		default:
			r.skip(n)
		}
	}
	if t == msgWiFi { // RFID variant
		d.m.SetExtra("driverUniqueId", hex.EncodeToString(r.take(8)))
		r.u8() // validity
	}
	if d.modelNT && (t == msgGPSLBS2 || t == msgGPSLBSDriver) {
		d.odometer(float64(r.u24()))
		d.m.SetExtra("hours", r.u24()*60*1000)
		if t == msgGPSLBSDriver {
			if n := r.u8(); n > 0 {
				r.u8() // identifier type
				d.m.SetExtra("driverUniqueId", hex.EncodeToString(r.take(n-1)))
			}
		}
	}
	if d.modelVL && t == msgGPSLBSStatus1 {
		d.driverCard()
	}
	if n := r.left(); n == 3+6 || n == 3+4+6 {
		d.m.Ignition = r.u8() > 0
		d.m.Has |= protocol.HasIgnition
		r.u8() // upload mode
		if r.u8() > 0 {
			d.m.Archive = true
		}
	}
	if r.left() == 4+6 {
		d.odometer(float64(r.u32()))
	}
	if t == msgGPSLBSStatus3 || t == msgFenceMulti {
		d.m.SetExtra("geofence", r.u8())
	}
}

// statusBlock reads terminal info, voltage level, GSM signal and the alarm
// byte that follow the LBS block.
func (d *decoder) statusBlock() {
	r := &d.r
	t := d.typ
	if t == msgWiFi3 {
		r.u8() // network indicator
	}
	d.status()
	if d.variant == vOBD6 {
		sig := r.u16()
		d.m.Sats = (sig>>10)&0x1f + (sig>>5)&0x1f
		d.m.RSSI = sig & 0x1f
		d.m.Has |= protocol.HasSats | protocol.HasRSSI
		d.addAlarm(d.alarmName(r.u8()))
		r.u8() // language
		d.m.Battery = r.u8()
		d.m.Has |= protocol.HasBattery
		mode := r.u8()
		d.power(float64(r.u16()) / 100)
		r.u8()  // reserved
		r.u16() // working time
		if mode == 4 {
			d.m.SetExtra("temp1", float64(r.i16())/10)
		}
		return
	}
	nt := d.modelNT && (t == msgGPSLBS2 || t == msgGPSLBSDriver)
	if t == msgWiFi3 || nt {
		d.power(float64(r.u16()) * 0.01)
	}
	switch {
	case t == msgStatus && d.modelR11:
		d.power(float64(r.u16()) * 0.01)
	case nt:
		d.m.SetExtra("battery", float64(r.u8())/10)
	default:
		d.battery(r.u8())
	}
	d.m.RSSI = r.u8()
	d.m.Has |= protocol.HasRSSI
	if t == msgStatus && d.modelLW {
		d.power(float64(r.u16()&0xfff) / 10)
		return
	}
	ext := r.u8()
	if t == msgGPSLBSStatus3 || t == msgFenceMulti {
		ext += r.peek(0) >> 4 << 8 // language high nibble extends the code
	}
	switch {
	case t == msgStatus && d.modelSW:
		d.power(float64(ext))
	case d.variant != vVXT01:
		d.addAlarm(d.alarmName(ext))
	}
}

func (d *decoder) gpsLBS1Tail() {
	r := &d.r
	switch d.variant {
	case vGT06ECard:
		d.odometer(float64(r.u32()))
		data := asciiString(r.take(r.u8()))
		r.u8() // alarm
		r.u8() // swiped
		d.m.SetExtra("card", strings.TrimSpace(data))
	case vBenway:
		mask := r.u16()
		d.m.Ignition = mask&(1<<15) != 0
		d.m.Has |= protocol.HasIgnition
		d.m.SetExtra("in2", mask&(1<<14) != 0)
		if mask&(1<<12) != 0 {
			v := mask & 0x1ff
			if mask&(1<<9) != 0 {
				v = -v
			}
			d.m.SetExtra("temp1", v)
		} else {
			v := mask & 0x3ff
			if mask&(1<<13) != 0 {
				d.m.SetExtra("adc1", v)
			} else {
				d.m.SetExtra("adc1", float64(v)*0.1)
			}
		}
	case vVXT01:
		d.status()
		d.power(float64(r.u16()) * 0.01)
		d.m.RSSI = r.u8()
		d.m.Has |= protocol.HasRSSI
		r.u8() // alarm extension
	case vS5:
		d.status()
		d.power(float64(r.u16()) * 0.01)
		d.m.RSSI = r.u8()
		d.m.Has |= protocol.HasRSSI
		d.addAlarm(d.alarmName(r.u8()))
		d.m.SetExtra("oil", r.u16())
		temp := r.u8()
		if temp&0x80 != 0 {
			temp = -(temp & 0x7f)
		}
		d.m.SetExtra("temp1", temp)
		d.odometer(float64(r.u32() * 10))
	case vWeTrust:
		d.odometer(float64(r.u32()))
		d.m.SetExtra("card", asciiString(r.take(r.u8())))
		if r.u8() > 0 {
			d.addAlarm(alarmGeneral)
		}
		d.m.SetExtra("cardStatus", r.u8())
		d.m.SetExtra("drivingTime", r.u16())
	}
}

func (d *decoder) altitude(v int) {
	d.m.Altitude = float64(v)
	d.m.Has |= protocol.HasAltitude
}

// alarm decodes 0x95 (JC100/JC400 alarm, optional event file names).
func (d *decoder) alarm(dataLength int) {
	r := &d.r
	jc400 := d.variant == vJC400
	extended := dataLength > 7
	if extended {
		if jc400 {
			r.u16() // marker
			r.u8()  // version
		}
		d.gps(false, jc400, jc400, jc400, jc400)
	} else {
		d.m.Type = protocol.TypeStatus
		d.m.Time = d.date()
	}
	if jc400 {
		d.power(float64(r.u16()) * 0.1)
	}
	event := r.u8()
	d.m.SetExtra("event", event)
	d.m.SetExtra("eventData", r.u16())
	switch event {
	case 0x01:
		if extended {
			d.addAlarm(alarmSOS)
		} else {
			d.addAlarm(alarmGeneral)
		}
	case 0x0E:
		d.addAlarm(alarmLowPower)
	case 0x76:
		d.addAlarm(alarmTemperature)
	case 0x80:
		d.addAlarm(alarmVibration)
	case 0x87:
		d.addAlarm(alarmOverspeed)
	case 0x88:
		d.addAlarm(alarmPowerCut)
	case 0x90:
		d.addAlarm(alarmAcceleration)
	case 0x91:
		d.addAlarm(alarmBraking)
	case 0x92:
		d.addAlarm(alarmCornering)
	case 0x93:
		d.addAlarm(alarmAccident)
	}
	if n := r.left() - 6; n > 0 {
		d.m.SetExtra("eventFiles", asciiString(r.take(n)))
	}
}

// decodeLong decodes 0x7979 frames. Only a few types get an ack.
func (d *decoder) decodeLong() bool {
	r := &d.r
	switch d.typ {
	case msgStringInfo:
		r.u32() // server flag
		enc := r.u8()
		data := r.take(r.left() - 6)
		d.m.Type = protocol.TypeResult
		if enc == 1 {
			d.m.SetExtra("result", asciiString(data))
		} else {
			d.m.SetExtra("result", utf16String(data))
		}
		return true
	case msgInfo:
		return d.info()
	case msgGPSLBSStatus4, msgWiFi5: // AZ735
		if !d.gps(true, true, true, false, false) {
			d.m.Type = protocol.TypeStatus
		}
		if d.lbs(true) {
			d.m.RSSI = r.u8()
			d.m.Has |= protocol.HasRSSI
		}
		r.skip(r.u8()) // more cells
		r.skip(r.u8()) // access points
		s := r.u8()
		d.m.Status = uint32(s)
		d.m.Has |= protocol.HasStatus
		if d.typ == msgWiFi5 {
			switch s {
			case 0xA0:
				d.m.SetExtra("armed", true)
			case 0xA1:
				d.m.SetExtra("armed", false)
			case 0xA2, 0xA3:
				d.addAlarm(alarmLowBattery)
			case 0xA4:
				d.addAlarm(alarmGeneral)
			case 0xA5:
				d.addAlarm(alarmDoor)
			}
		}
		r.skip(r.u8()) // reserved extension
		d.reply = appendFrame(d.reply, true, d.typ, nil, d.serial)
		d.hasReply = true
		return true
	case msgOBD:
		return d.obd()
	case msgModular:
		d.modular()
		d.ack(msgModular, d.serial, nil)
		return true
	case msgMultimedia:
		d.reply = appendFrame(d.reply, true, d.typ, nil, d.serial)
		d.hasReply = true
		return false // media transfer is not supported
	case msgSerial:
		d.m.Type = protocol.TypeResult
		r.u8() // external device type
		data := r.take(r.left() - 6)
		if printable(data) {
			d.m.SetExtra("result", strings.TrimSpace(string(data)))
		} else {
			d.m.SetExtra("result", hex.EncodeToString(data))
		}
		return true
	case msgPeripheral:
		d.peripheral()
		d.ack(msgPeripheral, d.serial, nil)
		return true
	case msgGPSLBS8:
		d.gps(false, true, true, false, false)
		r.u8() // upload mode
		d.m.Archive = r.u8() > 0
		d.lbs(false)
		return true
	}
	return false
}

func (d *decoder) info() bool {
	r := &d.r
	d.m.Type = protocol.TypeInfo
	switch r.u8() {
	case 0x00:
		d.m.SetExtra("adc1", float64(r.u16())*0.01)
	case 0x04:
		for _, kv := range strings.Split(asciiString(r.take(r.left()-6)), ";") {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.ParseInt(v, 16, 64)
			if err != nil {
				continue
			}
			switch k {
			case "ALM1", "ALM2", "ALM3":
				d.m.SetExtra("alarm"+k[3:]+"Status", n)
			case "STA1":
				d.m.SetExtra("otherStatus", n)
			case "DYD":
				d.m.SetExtra("engineStatus", n)
			}
		}
	case 0x05:
		if r.left() >= 6+1+6 {
			d.m.Time = d.date()
		}
		f := r.u8()
		d.m.SetExtra("door", f&1 != 0)
		d.m.SetExtra("io1", f&4 != 0)
	case 0x0a:
		r.skip(8) // imei
		r.skip(8) // imsi
		d.m.SetExtra("iccid", strings.ReplaceAll(hex.EncodeToString(r.take(10)), "f", ""))
	case 0x0b:
		switch d.length - 6 {
		case 1:
			if int8(r.u8()) > 0 {
				d.m.SetExtra("networkTechnology", "4G")
			} else {
				d.m.SetExtra("networkTechnology", "2G")
			}
		case 2:
			d.power(float64(r.u16()) / 100)
		}
	case 0x0d:
		if r.peek(0) != '!' {
			r.skip(6)
		}
		// "!AIOIL,addr,out,temp,version,status,measured,moving,times,xx"
		f := strings.Split(asciiString(r.take(r.left()-6)), ",")
		if len(f) < 10 || f[0] != "!AIOIL" {
			return false
		}
		temp, err1 := strconv.ParseFloat(f[3], 64)
		fuel, err2 := strconv.ParseFloat(f[6], 64)
		if err1 != nil || err2 != nil {
			return false
		}
		d.m.SetExtra("temp1", temp)
		d.m.SetExtra("fuel", fuel)
	case 0x1b:
		if c := r.peek(0); c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' {
			d.m.SetExtra("serial", strings.TrimSpace(asciiString(r.take(r.left()-6))))
		} else {
			r.u8() // header
			r.u8() // type
			d.m.SetExtra("driverUniqueId", hex.EncodeToString(r.take(4)))
		}
	case 0x1e:
		d.m.SetExtra("temp1", float64(r.i32())/10)
		d.m.SetExtra("humidity", float64(r.i32())/10)
	default:
		return false
	}
	return true
}

func (d *decoder) obd() bool {
	r := &d.r
	d.m.Type = protocol.TypeStatus
	d.m.Time = d.date()
	d.m.Ignition = r.u8() > 0
	d.m.Has |= protocol.HasIgnition
	for _, pair := range strings.Split(asciiString(r.take(r.left()-18)), ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || len(k) < 2 {
			continue
		}
		id, err := strconv.ParseInt(k[:2], 16, 32)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(v, 16, 64)
		if err != nil && id != 74 {
			continue
		}
		switch id {
		case 40:
			d.odometer(float64(n) * 0.01)
		case 43:
			d.m.SetExtra("fuel", float64(n)*0.01)
		case 45:
			d.m.SetExtra("coolantTemp", float64(n)*0.01)
		case 53:
			d.m.SetExtra("obdSpeed", float64(n)*0.01)
		case 54:
			d.m.SetExtra("rpm", float64(n)*0.01)
		case 71:
			d.m.SetExtra("fuelUsed", float64(n)*0.01)
		case 73:
			d.m.SetExtra("hours", float64(n)*0.01)
		case 74:
			d.m.SetExtra("vin", v)
		}
	}
	return true
}

// modular decodes 0x70: a list of (type, length, value) modules.
func (d *decoder) modular() {
	r := &d.r
	d.m.Type = protocol.TypeStatus
	for r.left() > 6 && !r.bad {
		mt, ml := r.u16(), r.u16()
		switch mt {
		case 0x03:
			d.m.SetExtra("iccid", hex.EncodeToString(r.take(10)))
		case 0x09:
			d.m.Sats = r.u8()
			d.m.Has |= protocol.HasSats
		case 0x0a:
			d.m.SetExtra("satVisible", r.u8())
		case 0x11:
			mcc, mnc, lac, cid := r.u16(), r.u16(), int64(r.u16()), r.u24()
			r.u8() // rssi
			if cid > 0 {
				d.m.MCC, d.m.MNC, d.m.LAC, d.m.CID = mcc, mnc, lac, cid
				d.m.Has |= protocol.HasCell
			}
		case 0x18:
			d.m.SetExtra("battery", float64(r.u16())*0.01)
		case 0x28:
			d.m.HDOP = float64(r.u8()) * 0.1
			d.m.Has |= protocol.HasHDOP
		case 0x29:
			d.m.SetExtra("index", r.u32())
		case 0x2a:
			in := r.u8()
			d.m.SetExtra("door", in&0xf > 0)
			d.m.SetExtra("tamper", in>>4 > 0)
		case 0x2b:
			d.m.SetExtra("bootReason", r.u8())
		case 0x2e:
			d.odometer(float64(r.u32le()))
		case 0x33:
			d.m.Time = time.Unix(r.u32(), 0).UTC()
			d.m.Sats = r.u8()
			d.m.Has |= protocol.HasSats
			d.altitude(r.i16())
			lat := float64(r.u32()) / 1800000
			lon := float64(r.u32()) / 1800000
			d.m.SpeedKmh = float64(r.u8())
			d.m.Has |= protocol.HasSpeed
			d.setFix(lat, lon, r.u16())
		case 0x34:
			ev := r.u8()
			switch ev {
			case 0x10:
				d.addAlarm(alarmDoor)
			case 0x12:
				d.addAlarm(alarmRemoving)
			case 0x14:
				d.addAlarm(alarmGeofenceIn)
			case 0x15:
				d.addAlarm(alarmGeofenceOut)
			case 0x16:
				d.addAlarm(alarmTemperature)
			case 0x1A:
				d.addAlarm(alarmLowBattery)
			case 0x1B:
				d.addAlarm(alarmOverspeed)
			case 0x1C:
				d.addAlarm(alarmPowerOn)
			case 0x1D:
				d.addAlarm(alarmPowerOff)
			case 0x20:
				d.addAlarm(alarmVibration)
			case 0x21:
				d.addAlarm(alarmPowerCut)
			case 0x23:
				d.addAlarm(alarmTampering)
			}
			d.m.SetExtra("event", ev)
			r.u32le()      // time
			r.skip(r.u8()) // content
		case 0x7f:
			d.m.SetExtra("tag1Id", hex.EncodeToString(r.take(6)))
			d.m.SetExtra("tag1Battery", float64(r.u16())/1000)
			d.m.SetExtra("tag1BatteryLevel", r.u8())
			d.m.SetExtra("tag1Temp", float64(r.i16())/10)
			d.m.SetExtra("tag1Humidity", r.i16())
			d.m.SetExtra("tag1Status", r.u8())
		default:
			r.skip(ml)
		}
	}
}

// peripheral decodes 0xF2 (VL842 Bluetooth peripherals).
func (d *decoder) peripheral() {
	r := &d.r
	d.m.Type = protocol.TypeStatus
	d.m.Time = time.Unix(r.u32(), 0).UTC()
	for r.left() > 6 && !r.bad {
		switch r.u16() {
		case 0x000A:
			n := r.u16()
			r.u8() // mac type
			d.m.SetExtra("mac", hex.EncodeToString(r.take(6)))
			ev := r.u8()
			d.m.SetExtra("event", ev)
			if data := r.u8(); ev > 0 {
				d.m.SetExtra("eventData", data)
			}
			d.m.SetExtra("dataType", r.u8())
			d.m.SetExtra("dataDetails", hex.EncodeToString(r.take(n-10)))
		case 0x000C:
			r.u8() // length
			d.m.SetExtra("externalBatteryLevel", r.u8())
			if r.u8() > 0 {
				d.m.SetExtra("externalBatteryCharge", true)
			}
			d.m.SetExtra("externalBatteryCycles", r.u16())
			r.skip(6)
		default:
			n := r.u8()
			if n == 0 {
				n = r.u8()
			}
			r.skip(n)
		}
	}
}

// bcdTime reads YY MM DD hh mm ss in BCD (UTC).
func bcdTime(b []byte) time.Time {
	v := func(x byte) int { return int(x>>4)*10 + int(x&0xf) }
	return time.Date(2000+v(b[0]), time.Month(v(b[1])), v(b[2]), v(b[3]), v(b[4]), v(b[5]), 0, time.UTC)
}

func macString(b []byte) string {
	if len(b) != 6 {
		return ""
	}
	const digits = "0123456789abcdef"
	var s [17]byte
	for i, x := range b {
		if i > 0 {
			s[i*3-1] = ':'
		}
		s[i*3], s[i*3+1] = digits[x>>4], digits[x&0xf]
	}
	return string(s[:])
}

// asciiString copies b, replacing bytes outside ASCII like Java's US_ASCII
// decoder does.
func asciiString(b []byte) string {
	for _, c := range b {
		if c >= 0x80 {
			var sb strings.Builder
			for _, c := range b {
				if c >= 0x80 {
					sb.WriteRune('\uFFFD')
				} else {
					sb.WriteByte(c)
				}
			}
			return sb.String()
		}
	}
	return string(b)
}

func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(u))
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
