package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The theme lives in the instance settings under these keys.
const (
	setName    = "site.name"
	setTagline = "site.tagline"
	setLogo    = "site.logo"
	setAccent  = "site.accent"

	defaultAccent = "#2457d6"
)

// Settings is what the pages need of the instance settings
// (setting.Store).
type Settings interface {
	Get(ctx context.Context, keys ...string) (map[string]string, error)
	Set(ctx context.Context, values map[string]string) error
}

// site reads the theme. A database error falls back to the defaults: the
// page still renders.
func (h *Handler) site(r *http.Request) Site {
	s := Site{Name: h.d.InstanceName, Tagline: "Support", Accent: defaultAccent}
	if set, err := h.d.Settings.Get(r.Context(), setName, setTagline, setLogo, setAccent); err == nil {
		for k, v := range map[string]*string{setName: &s.Name, setTagline: &s.Tagline, setLogo: &s.Logo, setAccent: &s.Accent} {
			if val, ok := set[k]; ok {
				*v = val
			}
		}
	}
	sum := sha256.Sum256([]byte(s.Accent))
	s.ThemeV = hex.EncodeToString(sum[:4])
	return s
}

// themeCSS serves the colours of the theme as CSS variables, so that pages
// need no inline style.
func (h *Handler) themeCSS(w http.ResponseWriter, r *http.Request) {
	s := h.site(r)
	accent, ok := parseColor(s.Accent)
	if !ok {
		accent, _ = parseColor(defaultAccent)
	}
	strong := accent.scale(0.78)
	soft := accent.mix(0.9)
	on := "#ffffff"
	if accent.luminance() > 0.45 {
		on = "#111827"
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	fmt.Fprintf(w, ":root{--accent:%s;--accent-strong:%s;--accent-soft:%s;--on-accent:%s}\n", accent, strong, soft, on)
}

type rgb [3]float64

func parseColor(s string) (rgb, bool) {
	if len(s) != 7 || s[0] != '#' {
		return rgb{}, false
	}
	var c rgb
	for i := range 3 {
		v, err := strconv.ParseUint(s[1+2*i:3+2*i], 16, 8)
		if err != nil {
			return rgb{}, false
		}
		c[i] = float64(v)
	}
	return c, true
}

func (c rgb) String() string {
	return fmt.Sprintf("#%02x%02x%02x", int(c[0]+0.5), int(c[1]+0.5), int(c[2]+0.5))
}

func (c rgb) scale(f float64) rgb { return rgb{c[0] * f, c[1] * f, c[2] * f} }

// mix blends c with white; f is the share of white.
func (c rgb) mix(f float64) rgb {
	return rgb{c[0] + (255-c[0])*f, c[1] + (255-c[1])*f, c[2] + (255-c[2])*f}
}

func (c rgb) luminance() float64 { return (0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]) / 255 }

type settingsView struct {
	Page
	Form   Site
	Errors map[string]string
}

func (h *Handler) adminSettings(w http.ResponseWriter, r *http.Request) {
	pg := h.page(r, "Settings", "admin")
	h.render(w, r, http.StatusOK, "admin_settings", settingsView{Page: pg, Form: pg.Site})
}

func (h *Handler) saveSettings(w http.ResponseWriter, r *http.Request) {
	f := Site{
		Name:    strings.TrimSpace(r.PostFormValue("name")),
		Tagline: strings.TrimSpace(r.PostFormValue("tagline")),
		Logo:    strings.TrimSpace(r.PostFormValue("logo")),
		Accent:  strings.ToLower(strings.TrimSpace(r.PostFormValue("accent"))),
	}
	errs := map[string]string{}
	if f.Name == "" || utf8.RuneCountInString(f.Name) > 60 || strings.ContainsAny(f.Name, "\r\n") {
		errs["name"] = "Give a name of 1 to 60 characters."
	}
	if utf8.RuneCountInString(f.Tagline) > 80 || strings.ContainsAny(f.Tagline, "\r\n") {
		errs["tagline"] = "Keep the tagline under 80 characters."
	}
	if f.Logo != "" {
		u, err := url.Parse(f.Logo)
		if err != nil || len(f.Logo) > 500 || !(u.Scheme == "https" && u.Host != "" || u.Scheme == "" && strings.HasPrefix(f.Logo, "/") && !strings.HasPrefix(f.Logo, "//")) {
			errs["logo"] = "Give an https:// address or a path on this site, or leave it empty."
		}
	}
	if _, ok := parseColor(f.Accent); !ok {
		errs["accent"] = "Give a colour as #rrggbb."
	}
	if len(errs) > 0 {
		pg := h.page(r, "Settings", "admin")
		h.render(w, r, http.StatusUnprocessableEntity, "admin_settings", settingsView{Page: pg, Form: f, Errors: errs})
		return
	}
	err := h.d.Settings.Set(r.Context(), map[string]string{setName: f.Name, setTagline: f.Tagline, setLogo: f.Logo, setAccent: f.Accent})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.redirect(w, r, "/admin/settings", "saved")
}
