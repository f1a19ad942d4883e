package sla

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/unit"
	"github.com/helpmesh/helpmesh/internal/worktime"
)

// Units is what the response clocks read of units.
type Units interface {
	CachedUnit(ctx context.Context, id int64) (*unit.Unit, error)
	WorkCalendar(ctx context.Context, id int64, def *worktime.Calendar) (*worktime.Calendar, error)
}

// Clocks works out the deadlines of units' response clocks: a unit's
// response time for the ticket's priority (its QoS level's, or its own
// durations), counted on its calendar (else Default), and the warning at
// the fraction Warning of it.
type Clocks struct {
	Units   Units
	Default *worktime.Calendar
	// Warning is the fraction of the response time at which the unit is
	// warned (HELPMESH_QOS_WARNING, 0.75).
	Warning float64
}

// DefaultWarning is the GGUS warning: at 75 % of the response time.
const DefaultWarning = 0.75

// Deadlines returns the deadlines of a clock of unit unitID started at
// start for a ticket of priority (a ticket.ResponseClock).
func (c *Clocks) Deadlines(ctx context.Context, unitID int64, priority ticket.Priority, start time.Time) (ticket.Deadlines, error) {
	if c.Units == nil || c.Default == nil {
		return ticket.Deadlines{}, errors.New("sla: clocks need Units and a Default calendar")
	}
	u, err := c.Units.CachedUnit(ctx, unitID)
	if err != nil {
		return ticket.Deadlines{}, fmt.Errorf("sla: unit %d: %w", unitID, err)
	}
	cal, err := c.Units.WorkCalendar(ctx, unitID, c.Default)
	if err != nil {
		return ticket.Deadlines{}, fmt.Errorf("sla: %w", err)
	}
	d, ok := u.ResponseTimes().For(string(priority))
	if !ok {
		return ticket.Deadlines{}, fmt.Errorf("sla: unit %s has no response time for priority %q", u.Slug, priority)
	}
	warning := c.Warning
	if warning <= 0 || warning > 1 {
		warning = DefaultWarning
	}
	return ticket.Deadlines{DueAt: cal.Add(start, d), WarnAt: cal.AddFraction(start, d, warning)}, nil
}
