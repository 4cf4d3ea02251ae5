// Package gt06 decodes the GT06 / Concox binary tracker protocol (S20 personal
// trackers, GT06N, JM-VL03, LW/NT/VL series and many clones) and encodes the
// frames a simulator needs.
//
// # Framing
//
// Frames start with 78 78 (one length byte) or 79 79 (two length bytes) and
// end with 0D 0A. When the length field does not point at a 0D 0A (Wi-Fi
// reports 0x17/0x69 put the access-point count there, some firmwares send
// wrong lengths) the frame ends at the first 0D 0A, as Traccar's frame
// decoder does.
//
// # CRC policy
//
// Every frame carries a CRC-ITU (X.25) over length..serial. Real devices send
// wrong CRCs often enough that Traccar never checks them, and several of its
// reference captures carry one. We follow that: a frame with a wrong CRC is
// still decoded; [Codec.CRCMismatches] counts them so that a broken link or a
// desynchronised stream shows up in metrics instead of silently dropping data.
//
// # Sessions
//
// A login (0x01) identifies the device: Decode returns a TypeLogin message
// with the IMEI and the login ack. The caller decides whether to send the ack
// (an unknown IMEI gets none). Every other frame before a login (or
// [Codec.SetDeviceID]) yields protocol.ErrNoDevice and no messages.
//
// # Layout variants
//
// Many vendors reuse message numbers with other layouts. Like Traccar we pick
// the layout from (start bytes, type, length) and from the device model the
// server knows ([Codec.Model], Traccar's model names such as "LW4G-4B",
// "SEEWORLD", "NT20", "XT40", "VL103", "G18").
//
// Units: speed in km/h (the wire unit), course in degrees, time in UTC.
// Attribute names in Message.Extra follow Traccar's where it has one.
package gt06
