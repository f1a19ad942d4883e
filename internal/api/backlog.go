// The backlogs operators watch in /metrics: outgoing mail not sent yet and
// jobs waiting to run, the mail's figures and the jobs that failed.

package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Backlogs reads the queues' backlogs.
type Backlogs struct {
	// Outbox counts the outgoing mails not sent yet, by state.
	Outbox func(ctx context.Context) (map[string]int64, error)
	// Jobs counts the jobs waiting to run.
	Jobs func(ctx context.Context) (int64, error)
	// JobsFailed counts the jobs that gave up.
	JobsFailed func(ctx context.Context) (int64, error)
	// Mail reads the mail's figures.
	Mail func(ctx context.Context) (MailStats, error)
}

// MailStats is what /metrics shows of the mail.
type MailStats struct {
	// Outbox counts the outgoing mails by state (held, pending, sent,
	// failed, suppressed).
	Outbox map[string]int64
	// OldestWaiting is the age of the oldest mail not sent yet.
	OldestWaiting time.Duration
	// Quarantined counts the incoming mails kept in quarantine.
	Quarantined int64
	// Gathering counts the notices waiting for their batched mail.
	Gathering int64
}

type backlogMetrics struct {
	b   Backlogs
	log *slog.Logger
}

var (
	outboxBacklog = prometheus.NewDesc("helpmesh_outbox_backlog",
		"Outgoing mails not sent yet, by state: pending (to be sent or retried), held (no relay), failed.", []string{"state"}, nil)
	jobsBacklog = prometheus.NewDesc("helpmesh_jobs_pending", "Jobs waiting to run or to be retried.", nil, nil)
	jobsFailed  = prometheus.NewDesc("helpmesh_jobs_failed", "Jobs that gave up after their last attempt.", nil, nil)
	mailOutbox  = prometheus.NewDesc("helpmesh_mail_outbox",
		"Outgoing mails by state (held, pending, sent, failed, suppressed); sent and failed mails are kept, so these only grow.", []string{"state"}, nil)
	mailOldest = prometheus.NewDesc("helpmesh_outbox_oldest_age_seconds",
		"Age of the oldest outgoing mail not sent yet (pending or held); 0 when none waits.", nil, nil)
	mailQuarantine = prometheus.NewDesc("helpmesh_mail_quarantine", "Incoming mails kept in quarantine.", nil, nil)
	mailGathering  = prometheus.NewDesc("helpmesh_mail_batch_gathering",
		"Notices (replies, status changes) held back to go out together in one mail per ticket and recipient.", nil, nil)
)

func (m backlogMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{outboxBacklog, jobsBacklog, jobsFailed, mailOutbox, mailOldest, mailQuarantine, mailGathering} {
		ch <- d
	}
}

func (m backlogMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if m.b.Outbox != nil {
		by, err := m.b.Outbox(ctx)
		if err != nil {
			m.log.Warn("metrics: outbox backlog", "err", err)
		}
		for state, n := range by {
			ch <- prometheus.MustNewConstMetric(outboxBacklog, prometheus.GaugeValue, float64(n), state)
		}
	}
	m.count(ctx, ch, jobsBacklog, "jobs backlog", m.b.Jobs)
	m.count(ctx, ch, jobsFailed, "failed jobs", m.b.JobsFailed)
	if m.b.Mail != nil {
		st, err := m.b.Mail(ctx)
		if err != nil {
			m.log.Warn("metrics: mail", "err", err)
			return
		}
		for state, n := range st.Outbox {
			ch <- prometheus.MustNewConstMetric(mailOutbox, prometheus.GaugeValue, float64(n), state)
		}
		ch <- prometheus.MustNewConstMetric(mailOldest, prometheus.GaugeValue, st.OldestWaiting.Seconds())
		ch <- prometheus.MustNewConstMetric(mailQuarantine, prometheus.GaugeValue, float64(st.Quarantined))
		ch <- prometheus.MustNewConstMetric(mailGathering, prometheus.GaugeValue, float64(st.Gathering))
	}
}

// count sends the gauge d read by read, when there is one.
func (m backlogMetrics) count(ctx context.Context, ch chan<- prometheus.Metric, d *prometheus.Desc, what string, read func(context.Context) (int64, error)) {
	if read == nil {
		return
	}
	n, err := read(ctx)
	if err != nil {
		m.log.Warn("metrics: "+what, "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(n))
}
