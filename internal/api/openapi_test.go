package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// openAPIDoc is the part of an OpenAPI 3.1 document the tests look at.
type openAPIDoc struct {
	OpenAPI    string                          `json:"openapi"`
	Info       map[string]any                  `json:"info"`
	Paths      map[string]map[string]openAPIOp `json:"paths"`
	Security   []map[string][]string           `json:"security"`
	Components struct {
		SecuritySchemes map[string]map[string]any  `json:"securitySchemes"`
		Schemas         map[string]json.RawMessage `json:"schemas"`
		Responses       map[string]json.RawMessage `json:"responses"`
	} `json:"components"`
}

type openAPIOp struct {
	OperationID string                     `json:"operationId"`
	Parameters  []openAPIParam             `json:"parameters"`
	RequestBody json.RawMessage            `json:"requestBody"`
	Responses   map[string]json.RawMessage `json:"responses"`
	Security    *[]map[string][]string     `json:"security"`
}

type openAPIParam struct {
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
}

// parseOpenAPI decodes the embedded document.
func parseOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	dec := json.NewDecoder(strings.NewReader(string(openAPI)))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("openapi.json has trailing data")
	}
	return doc
}

// openAPIOperations lists "METHOD /path" for every operation of the document.
func openAPIOperations(doc openAPIDoc) []string {
	var ops []string
	for path, item := range doc.Paths {
		for method := range item {
			ops = append(ops, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

func TestOpenAPIDocumentIsWellFormed(t *testing.T) {
	doc := parseOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	if doc.Info["title"] == nil || doc.Info["version"] == nil {
		t.Errorf("info lacks title or version: %v", doc.Info)
	}
	if len(doc.Paths) == 0 {
		t.Fatal("no paths")
	}
	bearer := doc.Components.SecuritySchemes["bearerAuth"]
	if bearer["type"] != "http" || bearer["scheme"] != "bearer" {
		t.Errorf("components.securitySchemes.bearerAuth = %v, want http bearer", bearer)
	}
	if len(doc.Security) != 1 || doc.Security[0]["bearerAuth"] == nil {
		t.Errorf("the document's default security is not bearerAuth: %v", doc.Security)
	}
	// Every reference resolves.
	refs := regexp.MustCompile(`"\$ref":\s*"#/components/(schemas|responses)/([^"]+)"`).FindAllStringSubmatch(string(openAPI), -1)
	if len(refs) == 0 {
		t.Error("no $ref at all")
	}
	for _, m := range refs {
		var ok bool
		switch m[1] {
		case "schemas":
			_, ok = doc.Components.Schemas[m[2]]
		case "responses":
			_, ok = doc.Components.Responses[m[2]]
		}
		if !ok {
			t.Errorf("unresolved reference #/components/%s/%s", m[1], m[2])
		}
	}
	ids := map[string]string{}
	public := []string{"GET /healthz", "GET /metrics", "GET /api/v1/openapi.json", "GET /api/v1/announcements", "GET /api/v1/announcements/{id}", "GET /gocdbpi/public/"}
	pathParam := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range doc.Paths {
		for method, op := range item {
			name := strings.ToUpper(method) + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", name)
			} else if other, dup := ids[op.OperationID]; dup {
				t.Errorf("%s and %s share operationId %s", name, other, op.OperationID)
			}
			ids[op.OperationID] = name
			var success bool
			for code := range op.Responses {
				if strings.HasPrefix(code, "2") {
					success = true
				}
			}
			if !success {
				t.Errorf("%s: no 2xx response", name)
			}
			if method == "post" && op.Responses["201"] == nil {
				t.Errorf("%s: a create must answer 201", name)
			}
			if method == "delete" && op.Responses["204"] == nil {
				t.Errorf("%s: a delete must answer 204", name)
			}
			isPublic := slices.Contains(public, name)
			if isPublic != (op.Security != nil && len(*op.Security) == 0) {
				t.Errorf("%s: public=%v but security=%v", name, isPublic, op.Security)
			}
			if !isPublic {
				for _, code := range []string{"401", "default"} {
					if !strings.Contains(string(op.Responses[code]), "#/components/responses/") {
						t.Errorf("%s: response %s is not the error envelope", name, code)
					}
				}
			}
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				if !slices.ContainsFunc(op.Parameters, func(p openAPIParam) bool { return p.Name == m[1] && p.In == "path" && p.Required }) {
					t.Errorf("%s: path parameter %s is not declared as a required path parameter", name, m[1])
				}
			}
			if (method == "post" || method == "patch") && len(op.RequestBody) == 0 {
				t.Errorf("%s: no request body", name)
			}
		}
	}
	// The enums of the domain are spelled out.
	for _, want := range []string{`"waiting_for_reply"`, `"top_priority"`, `"service_request"`, `"alarm"`, `"redirect"`, `"advanced"`, `"follow_up_of"`} {
		if !strings.Contains(string(openAPI), want) {
			t.Errorf("the document lacks the enum value %s", want)
		}
	}
}

// TestOpenAPICoversRoutes fails when the API serves a route the document
// does not describe. The reverse (every documented operation is served)
// is checked with the routes other packages add in internal/app.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc := parseOpenAPI(t)
	ops := openAPIOperations(doc)
	a := New(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBody: 1 << 20})
	for _, r := range a.Routes() {
		if !slices.Contains(ops, r) {
			t.Errorf("route %q is served but not in openapi.json", r)
		}
	}
}

func TestOpenAPIServedWithoutToken(t *testing.T) {
	a := New(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBody: 1 << 20})
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Error("the served document is not valid JSON")
	}
}
