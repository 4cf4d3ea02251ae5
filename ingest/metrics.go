package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the ingest counters, registered on the registry the server is
// given (no global registry: two servers in one test process must not clash).
type Metrics struct {
	Connections     *prometheus.GaugeVec
	ConnsRefused    *prometheus.CounterVec
	Frames          *prometheus.CounterVec
	DecodeErrors    *prometheus.CounterVec
	CRCMismatches   *prometheus.CounterVec
	Persisted       prometheus.Counter
	Duplicates      prometheus.Counter
	Rejected        *prometheus.CounterVec
	BatchSize       prometheus.Histogram
	CommitLatency   prometheus.Histogram
	CommitErrors    prometheus.Counter
	AckLatency      prometheus.Histogram
	Paused          prometheus.Counter
	UnknownDevices  prometheus.Counter
	QueueDepth      prometheus.GaugeFunc
	queueDepthValue func() float64
}

func newMetrics(reg prometheus.Registerer, queueDepth func() float64) *Metrics {
	m := &Metrics{
		Connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "carevisit_ingest_connections",
			Help: "Open device connections by protocol."}, []string{"protocol"}),
		ConnsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "carevisit_ingest_connections_refused_total",
			Help: "Connections closed at once, by reason."}, []string{"reason"}),
		Frames: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "carevisit_ingest_frames_total",
			Help: "Decoded messages by protocol and message type."}, []string{"protocol", "type"}),
		DecodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "carevisit_ingest_decode_errors_total",
			Help: "Frames or bytes that could not be decoded, by protocol and reason."}, []string{"protocol", "reason"}),
		CRCMismatches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "carevisit_ingest_crc_mismatches_total",
			Help: "GT06 frames with a wrong CRC-ITU (decoded anyway, see docs/protocols.md)."}, []string{"protocol"}),
		Persisted: prometheus.NewCounter(prometheus.CounterOpts{Name: "carevisit_ingest_positions_persisted_total",
			Help: "Positions committed to PostgreSQL (new rows)."}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "carevisit_ingest_positions_duplicate_total",
			Help: "Positions received again (resent after a lost ack) and skipped."}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "carevisit_ingest_positions_rejected_total",
			Help: "Positions not stored because they are implausible, by reason."}, []string{"reason"}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "carevisit_ingest_batch_size",
			Help: "Rows per committed batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		CommitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "carevisit_ingest_commit_seconds",
			Help: "Time to commit one batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		CommitErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "carevisit_ingest_commit_errors_total",
			Help: "Failed batch commits (retried)."}),
		AckLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "carevisit_ingest_ack_seconds",
			Help:    "From a data frame's arrival to its acknowledgement being queued for the device.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		Paused: prometheus.NewCounter(prometheus.CounterOpts{Name: "carevisit_ingest_backpressure_pauses_total",
			Help: "Times a connection stopped being read because the queue was full."}),
		UnknownDevices: prometheus.NewCounter(prometheus.CounterOpts{Name: "carevisit_ingest_unknown_device_logins_total",
			Help: "Identifications from devices that are not registered."}),
	}
	m.QueueDepth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "carevisit_ingest_queue_depth",
		Help: "Positions waiting to be committed."}, queueDepth)
	reg.MustRegister(m.Connections, m.ConnsRefused, m.Frames, m.DecodeErrors, m.CRCMismatches, m.Persisted,
		m.Duplicates, m.Rejected, m.BatchSize, m.CommitLatency, m.CommitErrors, m.AckLatency, m.Paused,
		m.UnknownDevices, m.QueueDepth)
	return m
}
