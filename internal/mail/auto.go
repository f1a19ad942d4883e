package mail

import (
	"net/textproto"
	"strings"
)

// LoopHeader marks mail that helpmesh sent; its value is the mail domain.
const LoopHeader = "X-Helpmesh-Loop"

// automatic tells whether mail with header h and envelope sender
// returnPath must never be answered automatically (RFC 3834 and common
// practice), whether a machine wrote it (auto-replies, bounces; lists and
// bulk mail are written by people), and why.
func automatic(h textproto.MIMEHeader, returnPath string, hasReturnPath bool) (auto, machine bool, why string) {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && v != "no" {
		return true, true, "Auto-Submitted: " + v
	}
	switch p := strings.ToLower(strings.TrimSpace(h.Get("Precedence"))); p {
	case "bulk", "list", "junk":
		return true, p == "junk", "Precedence: " + p
	}
	if h.Get("List-Id") != "" || h.Get("List-Unsubscribe") != "" {
		return true, false, "mailing list"
	}
	if strings.EqualFold(strings.TrimSpace(h.Get("X-Autoreply")), "yes") || h.Get("X-Autorespond") != "" {
		return true, true, "auto-reply"
	}
	if hasReturnPath && strings.Trim(strings.TrimSpace(returnPath), "<>") == "" {
		return true, true, "empty return path (bounce)"
	}
	if rp := h.Get("Return-Path"); rp != "" && strings.Trim(strings.TrimSpace(rp), "<> ") == "" {
		return true, true, "empty Return-Path (bounce)"
	}
	if ct := strings.ToLower(h.Get("Content-Type")); strings.Contains(ct, "multipart/report") {
		return true, true, "delivery report"
	}
	return false, false, ""
}

// machineSender tells whether addr is a mailer daemon or similar.
func machineSender(addr string) bool {
	local, _, _ := strings.Cut(strings.ToLower(addr), "@")
	switch local {
	case "mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply":
		return true
	}
	return strings.HasPrefix(local, "bounce") || strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-request")
}
