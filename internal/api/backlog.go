// The backlogs operators watch in /metrics: outgoing mail not sent yet and
// jobs waiting to run.

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
}

type backlogMetrics struct {
	b   Backlogs
	log *slog.Logger
}

var (
	outboxBacklog = prometheus.NewDesc("helpmesh_outbox_backlog",
		"Outgoing mails not sent yet, by state: pending (to be sent or retried), held (no relay), failed.", []string{"state"}, nil)
	jobsBacklog = prometheus.NewDesc("helpmesh_jobs_pending", "Jobs waiting to run or to be retried.", nil, nil)
)

func (m backlogMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxBacklog
	ch <- jobsBacklog
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
	if m.b.Jobs != nil {
		n, err := m.b.Jobs(ctx)
		if err != nil {
			m.log.Warn("metrics: jobs backlog", "err", err)
			return
		}
		ch <- prometheus.MustNewConstMetric(jobsBacklog, prometheus.GaugeValue, float64(n))
	}
}
