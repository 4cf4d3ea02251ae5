package cabinet

import (
	"regexp"
	"strconv"
	"strings"

	"carevisit/store"
)

// svcField is a field of a service's application form. Labels are
// "my.svc.field.<Name>"; options "my.svc.opt.<Name>.<option>".
type svcField struct {
	Name     string
	Kind     string // text, textarea, number, select, provider, digits
	Required bool
	Options  []string
	Digits   int // for Kind digits: exact length
}

// svcKind is a service that can be applied for online. Texts:
// svc.<Code>.title, .what, .who, .docs.
type svcKind struct {
	Code         string
	DecisionDays int // decision deadline after submission (0 = none)
	Fields       []svcField
	DocKinds     []string // document kinds asked for (doc.kind.<k>)
}

var formOfService = []string{"home", "semi", "stationary"}

// citizenServices are the services citizens apply for online.
var citizenServices = []svcKind{
	{Code: "recognition", DecisionDays: 30, Fields: []svcField{
		{Name: "family", Kind: "textarea", Required: true},
		{Name: "income", Kind: "number", Required: true},
		{Name: "disability", Kind: "select", Required: true, Options: []string{"none", "1", "2", "3", "child"}},
		{Name: "circumstances", Kind: "textarea", Required: true},
		{Name: "form", Kind: "select", Required: true, Options: formOfService},
	}, DocKinds: []string{"passport", "income", "disability", "medical", "family"}},
	{Code: "provider", DecisionDays: 10, Fields: []svcField{
		{Name: "provider", Kind: "provider", Required: true},
		{Name: "form", Kind: "select", Required: true, Options: formOfService},
		{Name: "comment", Kind: "textarea"},
	}, DocKinds: []string{"passport", "ippsu"}},
	{Code: "refusal", DecisionDays: 10, Fields: []svcField{
		{Name: "scope", Kind: "select", Required: true, Options: []string{"all", "part"}},
		{Name: "services", Kind: "textarea"},
		{Name: "refusal_reason", Kind: "textarea", Required: true},
	}, DocKinds: []string{"passport"}},
	{Code: "payment", DecisionDays: 10, Fields: []svcField{
		{Name: "income", Kind: "number", Required: true},
		{Name: "account", Kind: "digits", Required: true, Digits: 20},
		{Name: "bik", Kind: "digits", Required: true, Digits: 9},
	}, DocKinds: []string{"passport", "income", "bank"}},
}

func serviceByCode(code string) (svcKind, bool) {
	for _, s := range citizenServices {
		if s.Code == code {
			return s, true
		}
	}
	return svcKind{}, false
}

// Sub-statuses of applications "in work" and outcomes of "done" ones, in
// the order staff pick them. Labels: app.status.<code>.
var (
	workStatuses = []string{"incomplete", "decision_pending", "payment_assigned", "recognized_needy", "providing",
		"inspection", "guardian_search", "document_pending", "guardianship_set"}
	doneStatuses = []string{"refused", "closed", "citizen_refused", "contract_not_made", "contract_ended", "documents_issued"}
)

// stateOfStatus is the tab an application with this status is under.
func stateOfStatus(status string) string {
	for _, s := range workStatuses {
		if s == status {
			return store.AppWork
		}
	}
	for _, s := range doneStatuses {
		if s == status {
			return store.AppDone
		}
	}
	return ""
}

// Document kinds a citizen chooses when uploading; staff send the out kinds.
var (
	docKindsIn  = []string{"passport", "snils", "income", "disability", "medical", "family", "ippsu", "bank", "other"}
	docKindsOut = []string{"decision", "ippsu", "contract", "notice", "other"}
)

var numberRe = regexp.MustCompile(`^\d{1,9}([.,]\d{1,2})?$`)

// validateServiceForm reads the service's fields from the form into vals
// and reports problems into v.Errors (required ones only when submitting).
func validateServiceForm(v *view, s svcKind, get func(string) string, providers []store.Provider, submit bool) map[string]string {
	vals := map[string]string{}
	for _, f := range s.Fields {
		val := strings.TrimSpace(get(f.Name))
		if len(val) > 4000 {
			v.Errors[f.Name] = v.T("form.err.too_long")
			continue
		}
		vals[f.Name] = val
		if val == "" {
			if submit && f.Required {
				v.Errors[f.Name] = v.T("form.err.required")
			}
			continue
		}
		switch f.Kind {
		case "number":
			if !numberRe.MatchString(val) {
				v.Errors[f.Name] = v.T("form.err.number")
			}
		case "digits":
			if len(digits(val)) != f.Digits || digits(val) != val {
				v.Errors[f.Name] = v.T("my.err.digits", f.Digits)
			}
		case "select":
			ok := false
			for _, o := range f.Options {
				ok = ok || o == val
			}
			if !ok {
				v.Errors[f.Name] = v.T("my.err.choose")
			}
		case "provider":
			ok := false
			for _, p := range providers {
				ok = ok || strconv.FormatInt(p.ID, 10) == val
			}
			if !ok {
				v.Errors[f.Name] = v.T("my.err.choose")
			}
		}
	}
	return vals
}
