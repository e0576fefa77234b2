package subscription

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/mongotron/mongotron/pkg/event"
	"github.com/mongotron/mongotron/pkg/tron"
)

// Limits of a request, besides MaxAddresses and MaxAddressesPerCall.
const (
	// MaxContracts bounds the contracts filter.
	MaxContracts = 1000
	// MaxLabelLen bounds a label, in bytes.
	MaxLabelLen = 200
	// MaxWebhookURLLen bounds a webhook URL, in bytes.
	MaxWebhookURLLen = 2048
	// MaxMetadataDepth bounds how deeply metadata objects nest.
	MaxMetadataDepth = 8
)

// Codes of a [FieldError], stable snake_case strings the REST API returns
// as its error code.
const (
	CodeInvalidAddress       = "invalid_address"
	CodeInvalidContract      = "invalid_contract"
	CodeInvalidKind          = "invalid_kind"
	CodeInvalidDirection     = "invalid_direction"
	CodeInvalidAmount        = "invalid_amount"
	CodeInvalidRange         = "invalid_range"
	CodeInvalidConfirmations = "invalid_confirmations"
	CodeInvalidFinality      = "invalid_finality"
	CodeInvalidFlag          = "invalid_flag"
	CodeInvalidStartBlock    = "invalid_start_block"
	CodeInvalidWebhook       = "invalid_webhook"
	CodeInvalidMetadata      = "invalid_metadata"
	CodeInvalidLabel         = "invalid_label"
	CodeEmptyFilter          = "empty_filter"
	// CodeLastAddress refuses removing every address of an address
	// subscription, which would widen it rather than empty it.
	CodeLastAddress      = "last_address"
	CodeTooManyAddresses = "too_many_addresses"
	CodeNotPatchable     = "not_patchable"
)

// ErrInvalid is wrapped by every [Errors] value, for errors.Is.
var ErrInvalid = errors.New("subscription: invalid request")

// FieldError says what is wrong with one field, or one entry of a list
// field ("addresses[3]").
type FieldError struct {
	// Field is the JSON path of the bad value.
	Field string
	// Code is one of the Code* constants.
	Code string
	// Message says why, in words a client developer can act on.
	Message string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// Errors is every problem of one request. Its message lists at most the
// first ten.
type Errors []FieldError

func (es Errors) Error() string {
	const shown = 10
	parts := make([]string, 0, shown+1)
	for i, e := range es {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(es)-shown))
			break
		}
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

// Code returns the code of the first problem, which the REST API answers
// with.
func (es Errors) Code() string {
	if len(es) == 0 {
		return ""
	}
	return es[0].Code
}

// Is makes errors.Is(err, ErrInvalid) true.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

func (es *Errors) add(field, code, format string, args ...any) {
	*es = append(*es, FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Field is an optional JSON value that remembers whether it was present
// and whether it was null, so a PATCH can tell "leave as is" (absent) from
// "clear" (null).
type Field[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON records presence; encoding/json calls it for null too.
func (f *Field[T]) UnmarshalJSON(b []byte) error {
	f.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		f.Null = true
		var zero T
		f.Value = zero
		return nil
	}
	f.Null = false
	// A nested object (the webhook) refuses unknown fields like the body
	// around it; json.Unmarshal would not inherit that.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(&f.Value)
}

// has reports whether the field carries a value (present and not null).
func (f Field[T]) has() bool { return f.Set && !f.Null }

// Request is the body of a create (POST) or a change (PATCH) of a
// subscription, as docs/api.md defines it. Decode it with unknown fields
// disallowed, then call [Request.New] or [Request.Apply].
type Request struct {
	Label         Field[string]         `json:"label"`
	Addresses     Field[[]string]       `json:"addresses"`
	Contracts     Field[[]string]       `json:"contracts"`
	Kinds         Field[[]string]       `json:"kinds"`
	Direction     Field[string]         `json:"direction"`
	MinAmount     Field[string]         `json:"min_amount"`
	MaxAmount     Field[string]         `json:"max_amount"`
	OnlySuccess   Field[bool]           `json:"only_success"`
	Confirmations Field[int]            `json:"confirmations"`
	Finality      Field[string]         `json:"finality"`
	ExcludeFlags  Field[[]string]       `json:"exclude_flags"`
	OnlyVerified  Field[bool]           `json:"only_verified"`
	StartBlock    Field[int64]          `json:"start_block"`
	All           Field[bool]           `json:"all"`
	Webhook       Field[Webhook]        `json:"webhook"`
	Metadata      Field[map[string]any] `json:"metadata"`
}

// New validates a create request and returns the subscription it
// describes, with the defaults of docs/api.md applied (direction any,
// only_success true, confirmations 19), and its normalised, de-duplicated
// addresses. The returned subscription has no id, tenant, status or times:
// the caller sets them. A null field is the same as an absent one.
func (r *Request) New() (*Subscription, []string, error) {
	s := &Subscription{
		Direction:     DirectionAny,
		OnlySuccess:   true,
		Confirmations: DefaultConfirmations,
		Finality:      FinalityConfirmations,
		Contracts:     []string{},
		Kinds:         []string{},
		ExcludeFlags:  []string{},
	}
	var es Errors
	var addrs []string
	if r.Addresses.has() {
		if len(r.Addresses.Value) > MaxAddressesPerCall {
			es.add("addresses", CodeTooManyAddresses, "%d addresses; a create takes at most %d, add more with POST /v1/subscriptions/{id}/addresses", len(r.Addresses.Value), MaxAddressesPerCall)
		} else {
			var aes Errors
			addrs, aes = normaliseAddresses("addresses", r.Addresses.Value)
			es = append(es, aes...)
		}
	}
	if r.StartBlock.has() {
		if r.StartBlock.Value < 0 {
			es.add("start_block", CodeInvalidStartBlock, "%d is negative", r.StartBlock.Value)
		}
		v := r.StartBlock.Value
		s.StartBlock = &v
	}
	es = append(es, r.applyFilters(s)...)
	if len(es) == 0 && len(addrs) == 0 && len(s.Contracts) == 0 && len(s.Kinds) == 0 && !s.All {
		es.add("addresses", CodeEmptyFilter, `a subscription with no addresses, contracts or kinds would match the whole chain; give one of them, or "all": true`)
	}
	if err := es.err(); err != nil {
		return nil, nil, err
	}
	return s, addrs, nil
}

// Apply validates a change request and applies it to a copy of cur, whose
// address count tells whether the result still has a filter. Absent fields
// are left as they are; null clears a nullable field (min_amount,
// max_amount, webhook, metadata, label) and restores the default of the
// others. Addresses change through the bulk address calls and start_block
// only at creation, so both are refused here.
func (r *Request) Apply(cur *Subscription) (*Subscription, error) {
	s := *cur
	s.Contracts = slices.Clone(cur.Contracts)
	s.Kinds = slices.Clone(cur.Kinds)
	s.ExcludeFlags = slices.Clone(cur.ExcludeFlags)
	var es Errors
	if r.Addresses.Set {
		es.add("addresses", CodeNotPatchable, "the address set changes with POST and DELETE /v1/subscriptions/{id}/addresses")
	}
	if r.StartBlock.Set {
		es.add("start_block", CodeNotPatchable, "start_block is set at creation only")
	}
	es = append(es, r.applyFilters(&s)...)
	// A webhook moved to another URL, or removed, is no longer disabled:
	// the record of its disabling goes.
	if s.DisabledWebhook() == nil {
		s.WebhookDisabled = nil
	}
	if len(es) == 0 && s.AddressCount == 0 && len(s.Contracts) == 0 && len(s.Kinds) == 0 && !s.All {
		es.add("kinds", CodeEmptyFilter, `the change leaves no addresses, contracts or kinds, which would match the whole chain; keep one of them, or set "all": true`)
	}
	if err := es.err(); err != nil {
		return nil, err
	}
	return &s, nil
}

// applyFilters validates and applies every field that create and change
// share.
func (r *Request) applyFilters(s *Subscription) Errors {
	var es Errors
	if r.Label.Set {
		s.Label = r.Label.Value
		if len(s.Label) > MaxLabelLen {
			es.add("label", CodeInvalidLabel, "%d bytes, at most %d", len(s.Label), MaxLabelLen)
		}
	}
	if r.Contracts.Set {
		if len(r.Contracts.Value) > MaxContracts {
			es.add("contracts", CodeInvalidContract, "%d contracts, at most %d", len(r.Contracts.Value), MaxContracts)
		} else {
			cs, ces := normaliseAddresses("contracts", r.Contracts.Value)
			for i := range ces {
				ces[i].Code = CodeInvalidContract
			}
			es = append(es, ces...)
			s.Contracts = cs
		}
	}
	if r.Kinds.Set {
		ks, kes := ValidateKinds("kinds", r.Kinds.Value)
		es = append(es, kes...)
		s.Kinds = ks
	}
	if r.Direction.Set {
		switch d := r.Direction.Value; {
		case r.Direction.Null:
			s.Direction = DirectionAny
		case d == DirectionIn || d == DirectionOut || d == DirectionAny:
			s.Direction = d
		default:
			es.add("direction", CodeInvalidDirection, "%q: want in, out or any", clip(d))
		}
	}
	if r.MinAmount.Set {
		s.MinAmount = amountField("min_amount", r.MinAmount, &es)
	}
	if r.MaxAmount.Set {
		s.MaxAmount = amountField("max_amount", r.MaxAmount, &es)
	}
	if s.MinAmount != nil && s.MaxAmount != nil {
		lo, err1 := tron.ParseAmount(*s.MinAmount)
		hi, err2 := tron.ParseAmount(*s.MaxAmount)
		if err1 == nil && err2 == nil && lo.Cmp(hi) > 0 {
			es.add("min_amount", CodeInvalidRange, "min_amount %s is above max_amount %s", *s.MinAmount, *s.MaxAmount)
		}
	}
	if r.OnlySuccess.Set {
		s.OnlySuccess = r.OnlySuccess.Null || r.OnlySuccess.Value
	}
	if r.Confirmations.Set {
		switch c := r.Confirmations.Value; {
		case r.Confirmations.Null:
			s.Confirmations = DefaultConfirmations
		case c < 0 || c > MaxConfirmations:
			es.add("confirmations", CodeInvalidConfirmations, "%d: want 0 (head, may be retracted) to %d (solidified)", c, MaxConfirmations)
		default:
			s.Confirmations = c
		}
	}
	if r.Finality.Set {
		switch f := r.Finality.Value; {
		case r.Finality.Null:
			s.Finality = FinalityConfirmations
		case f == FinalityConfirmations || f == FinalitySolidified:
			s.Finality = f
		default:
			es.add("finality", CodeInvalidFinality, "%q: want confirmations (deliver at the subscription's confirmations) or solidified (once the block is irreversible)", clip(f))
		}
	}
	if r.ExcludeFlags.Set {
		s.ExcludeFlags = []string{}
		for i, f := range r.ExcludeFlags.Value {
			if !event.Flag(f).Valid() {
				es.add(fmt.Sprintf("exclude_flags[%d]", i), CodeInvalidFlag, "%q is not a flag (known: %s)", clip(f), knownFlags())
				continue
			}
			if !slices.Contains(s.ExcludeFlags, f) {
				s.ExcludeFlags = append(s.ExcludeFlags, f)
			}
		}
	}
	if r.OnlyVerified.Set {
		s.OnlyVerified = !r.OnlyVerified.Null && r.OnlyVerified.Value
	}
	if r.All.Set {
		s.All = r.All.Value
	}
	if r.Webhook.Set {
		if r.Webhook.Null {
			s.Webhook = nil
		} else {
			w := r.Webhook.Value
			if err := ValidateWebhookURL(w.URL); err != nil {
				es.add("webhook.url", CodeInvalidWebhook, "%s", err.Error())
			}
			s.Webhook = &w
		}
	}
	if r.Metadata.Set {
		s.Metadata = r.Metadata.Value
		if err := validateMetadata(r.Metadata.Value, 1); err != nil {
			es.add("metadata", CodeInvalidMetadata, "%s", err.Error())
		}
	}
	return es
}

func amountField(name string, f Field[string], es *Errors) *string {
	if f.Null {
		return nil
	}
	a, err := tron.ParseAmount(f.Value)
	if err != nil {
		es.add(name, CodeInvalidAmount, "%s", strings.TrimPrefix(err.Error(), "tron: invalid amount: "))
		return nil
	}
	v := a.String()
	return &v
}

// NormaliseAddresses validates a list of addresses as sent by a client
// (base58check or hex), and returns them in base58check, de-duplicated, in
// the order first seen. Each bad entry is reported with its index and the
// reason (alphabet, length, checksum, prefix). field names the list in the
// errors, such as "addresses".
func NormaliseAddresses(field string, in []string) ([]string, error) {
	out, es := normaliseAddresses(field, in)
	return out, es.err()
}

func normaliseAddresses(field string, in []string) ([]string, Errors) {
	var es Errors
	out := make([]string, 0, len(in))
	seen := make(map[tron.Address]bool, len(in))
	for i, s := range in {
		a, err := tron.ParseAddress(s)
		if err != nil {
			es.add(fmt.Sprintf("%s[%d]", field, i), CodeInvalidAddress, "%s", strings.TrimPrefix(err.Error(), "tron: invalid address: "))
			continue
		}
		if seen[a] {
			continue
		}
		seen[a] = true
		out = append(out, a.String())
	}
	return out, es
}

// ValidateKinds checks that every kind is one of event.Kinds, and returns
// them de-duplicated in the order first seen.
func ValidateKinds(field string, in []string) ([]string, Errors) {
	var es Errors
	out := make([]string, 0, len(in))
	for i, k := range in {
		if !event.Kind(k).Valid() {
			es.add(fmt.Sprintf("%s[%d]", field, i), CodeInvalidKind, "%q is not a known kind (known: %s)", clip(k), knownKinds())
			continue
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, es
}

func knownFlags() string {
	fs := event.Flags()
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = string(f)
	}
	return strings.Join(parts, ", ")
}

func knownKinds() string {
	ks := event.Kinds()
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = string(k)
	}
	return strings.Join(parts, ", ")
}

// ValidateWebhookURL accepts an absolute http or https URL with a host and
// without credentials (the secret signs deliveries instead).
func ValidateWebhookURL(s string) error {
	if s == "" {
		return errors.New("url is required")
	}
	if len(s) > MaxWebhookURLLen {
		return fmt.Errorf("url is %d bytes, at most %d", len(s), MaxWebhookURLLen)
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("scheme %q: want https or http", clip(u.Scheme))
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("no host: want an absolute URL")
	}
	if u.User != nil {
		return errors.New("credentials in the URL are refused; use the webhook secret")
	}
	if u.Fragment != "" {
		return errors.New("a fragment is meaningless to a server; remove it")
	}
	return nil
}

// validateMetadata refuses keys MongoDB cannot store ("$…", dotted, empty)
// and deep nesting.
func validateMetadata(v any, depth int) error {
	switch x := v.(type) {
	case map[string]any:
		if depth > MaxMetadataDepth {
			return fmt.Errorf("nested deeper than %d levels", MaxMetadataDepth)
		}
		for k, e := range x {
			if k == "" || strings.HasPrefix(k, "$") || strings.Contains(k, ".") {
				return fmt.Errorf("key %q: keys must be non-empty and not start with $ nor contain a dot", clip(k))
			}
			if err := validateMetadata(e, depth+1); err != nil {
				return err
			}
		}
	case []any:
		if depth > MaxMetadataDepth {
			return fmt.Errorf("nested deeper than %d levels", MaxMetadataDepth)
		}
		for _, e := range x {
			if err := validateMetadata(e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}
